// Tokens of the one-liner language. Probe specifications (tracepoint:sched:sched_*) are lexed by
// their own rule, called by the parser where a probe is expected, since ':' '*' and '/' mean
// something else there.
import { syntaxError } from "./errors";

export type TokenKind = "ident" | "number" | "string" | "punct" | "map" | "var" | "eof";

export interface Token {
  kind: TokenKind;
  text: string;
  /** 1-based column of the first character */
  col: number;
  value?: bigint;
}

const PUNCT = ["==", "!=", "<=", ">=", "&&", "||", "->", "++", "--", "+=", "-=", "<<", ">>", "{", "}", "(", ")", "[", "]", "/", ",", ";", "=", "<", ">", "!", ".", "+", "-", "*", "%", "&", "|", "^", "~", "?", ":"];
const MAX_LEN = 4096;

export class Lexer {
  pos = 0;
  constructor(readonly src: string) {
    if (src.length > MAX_LEN) throw syntaxError(1, `the program is ${src.length} characters; at most ${MAX_LEN}`);
  }

  private skipSpace(): void {
    for (;;) {
      while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
      if (this.src.startsWith("//", this.pos)) {
        while (this.pos < this.src.length && this.src[this.pos] !== "\n") this.pos++;
      } else if (this.src.startsWith("/*", this.pos)) {
        const end = this.src.indexOf("*/", this.pos + 2);
        if (end < 0) throw syntaxError(this.pos + 1, "unterminated comment");
        this.pos = end + 2;
      } else return;
    }
  }

  /** A probe specification: letters, digits, _ : * . - + and (for uprobe paths) '/', up to space { , */
  probeSpec(): Token {
    this.skipSpace();
    const start = this.pos;
    const typed = /^(tracepoint|t|profile|interval):/.test(this.src.slice(start));
    // uprobe:PATH:FUNC, usdt:PATH:...: "/" belongs to the path; after it, it opens the predicate.
    const user = /^(uprobe|uretprobe|usdt|u|ur|U):/.test(this.src.slice(start));
    let colons = 0;
    while (this.pos < this.src.length) {
      const c = this.src[this.pos]!;
      if (/\s|[{,]/.test(c)) break;
      if (c === ":") colons++;
      if (c === "/" && (typed || (user && colons >= 2))) break;
      if (!/[A-Za-z0-9_:*.\-+/]/.test(c)) throw syntaxError(this.pos + 1, `unexpected "${c}" in a probe name`);
      this.pos++;
    }
    if (this.pos === start) throw syntaxError(start + 1, this.pos < this.src.length ? `expected a probe, got "${this.src[this.pos]}"` : "expected a probe");
    return { kind: "ident", text: this.src.slice(start, this.pos), col: start + 1 };
  }

  /** Is the next non-space character c? (without consuming) */
  peekChar(): string | undefined {
    this.skipSpace();
    return this.src[this.pos];
  }

  next(): Token {
    this.skipSpace();
    const col = this.pos + 1;
    if (this.pos >= this.src.length) return { kind: "eof", text: "", col };
    const rest = this.src.slice(this.pos);
    let m: RegExpExecArray | null;
    if ((m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest))) {
      this.pos += m[0].length;
      return { kind: "ident", text: m[0], col };
    }
    if ((m = /^@[A-Za-z0-9_]*/.exec(rest))) {
      this.pos += m[0].length;
      return { kind: "map", text: m[0], col };
    }
    if ((m = /^\$[A-Za-z0-9_]*/.exec(rest))) {
      this.pos += m[0].length;
      return { kind: "var", text: m[0], col };
    }
    if ((m = /^(0x[0-9a-fA-F]+|[0-9]+)([A-Za-z_][A-Za-z0-9_]*)?/.exec(rest))) {
      if (m[2]) throw syntaxError(col, `"${m[0]}" is not a number`);
      this.pos += m[0].length;
      const value = BigInt(m[1]!);
      if (value > 0xffffffffffffffffn) throw syntaxError(col, `${m[0]} does not fit 64 bits`);
      return { kind: "number", text: m[0], col, value };
    }
    if (rest[0] === '"') {
      let i = 1;
      let s = "";
      for (;;) {
        const c = rest[i];
        if (c === undefined || c === "\n") throw syntaxError(col, "unterminated string");
        if (c === '"') break;
        if (c === "\\") {
          const e = rest[i + 1];
          const map: Record<string, string> = { n: "\n", t: "\t", "\\": "\\", '"': '"', "0": "\0" };
          if (e === undefined || !(e in map)) throw syntaxError(col + i, `unknown escape "\\${e ?? ""}"`);
          s += map[e];
          i += 2;
          continue;
        }
        s += c;
        i++;
      }
      this.pos += i + 1;
      return { kind: "string", text: s, col };
    }
    for (const p of PUNCT) {
      if (rest.startsWith(p)) {
        this.pos += p.length;
        return { kind: "punct", text: p, col };
      }
    }
    throw syntaxError(col, `unexpected character "${rest[0]}"`);
  }

  peek(): Token {
    const save = this.pos;
    const t = this.next();
    this.pos = save;
    return t;
  }
}
