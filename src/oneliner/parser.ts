// Recursive-descent parser: one-liner text → Program (ast.ts). The grammar (README "One-liners"):
//   program   := block interval? | interval block       interval := interval:s:N '{' exit '(' ')' ';'? '}'
//   block     := probes predicate? '{' statement (';' statement)* ';'? '}'
//   probes    := probe (',' probe)*            probe := tracepoint:CATEGORY:EVENT (with *) | profile:hz:N
//              | uprobe:PATH:FUNC | uretprobe:PATH:FUNC | usdt:PATH:PROVIDER:NAME | usdt:PATH:NAME
//   predicate := '/' expr '/'
//   statement := map '=' aggfn '(' args ')' | printf '(' STRING (',' expr)* ')'
//   map       := '@' NAME? ('[' expr (',' expr)* ']')?
//   expr      := and ('||' and)*    and := unary ('&&' unary)*    unary := '!' unary | cmp
//   cmp       := primary (('=='|'!='|'<'|'<='|'>'|'>=') primary)?
//   primary   := NUMBER | '-' NUMBER | STRING | builtin | args.NAME | argN | str '(' expr ')' | '(' expr ')'
import { AGG_FNS, BUILTINS, MAX_UARGS, type AggFn, type Builtin, type CmpOp, type Expr, type ProbeSpec, type Program, type Statement } from "./ast";
import { Lexer, type Token } from "./lexer";
import { semanticError, syntaxError, unsupported } from "./errors";
import { checkConstruct, checkProvider, intervalProbe, profileProbe, unsupportedOperator } from "./portability";

const MAX_DEPTH = 32;

export function parse(src: string): Program {
  return new Parser(src).program();
}

class Parser {
  private readonly lx: Lexer;
  private depth = 0;
  constructor(src: string) {
    this.lx = new Lexer(src);
  }

  private expect(text: string): Token {
    const t = this.lx.next();
    if (t.text !== text || t.kind === "string") {
      if (t.kind === "punct" && !["{", "}", "(", ")", "[", "]", "/", ",", ";", "="].includes(t.text)) unsupportedOperator(t.text, t.col);
      throw syntaxError(t.col, `expected "${text}", got ${describe(t)}`);
    }
    return t;
  }

  program(): Program {
    // Blocks: one that traces (tracepoints or a profile probe), and at most one interval:s:N { exit(); }.
    let main: Omit<Program, "exitAfter"> | undefined;
    let exitAfter: Program["exitAfter"];
    do {
      const t = this.lx.peek();
      const first = this.probe();
      if (first.kind === "interval") {
        if (exitAfter) throw unsupported(first.col, "a second interval probe", "one interval:s:N { exit(); } per one-liner");
        exitAfter = this.intervalBlock(first);
      } else {
        if (main) throw unsupported(t.col, "a second probe block", "one probe block per one-liner: list several probes before one block (tracepoint:a:b, tracepoint:c:d { ... })");
        main = this.block(first.probe);
      }
    } while (this.lx.peek().kind !== "eof");
    if (!main) throw syntaxError(1, "an interval probe alone traces nothing", "e.g. profile:hz:99 { @[kstack] = count(); } interval:s:5 { exit(); }");
    return { ...main, ...(exitAfter ? { exitAfter } : {}) };
  }

  private block(first: ProbeSpec): Omit<Program, "exitAfter"> {
    const probes: ProbeSpec[] = [first];
    while (this.lx.peekChar() === ",") {
      this.lx.next();
      const p = this.probe();
      if (p.kind === "interval") throw unsupported(p.col, `${p.text} in a list of probes`, "give interval:s:N its own block: ... interval:s:N { exit(); }");
      probes.push(p.probe);
    }
    const profile = probes.find((p) => p.provider === "profile");
    if (profile && probes.length > 1) throw unsupported(profile.col, `${profile.text} with other probes`, "a profile probe takes its own one-liner: profile:hz:N { ... }");
    let predicate: Expr | undefined;
    if (this.lx.peekChar() === "/") {
      this.lx.next();
      predicate = this.expr();
      this.expect("/");
    }
    this.expect("{");
    const statements: Statement[] = [];
    while (this.lx.peek().text !== "}" || this.lx.peek().kind === "string") {
      if (this.lx.peek().kind === "eof") throw syntaxError(this.lx.peek().col, 'expected "}" at the end of the block');
      statements.push(this.statement());
      const t = this.lx.peek();
      if (t.text === ";" && t.kind === "punct") this.lx.next();
      else if (t.text !== "}") throw syntaxError(t.col, `expected ";" or "}", got ${describe(t)}`);
    }
    const close = this.expect("}");
    if (!statements.length) throw syntaxError(close.col, "the block is empty", "e.g. { @[comm] = count(); }");
    return { probes, ...(predicate ? { predicate } : {}), statements };
  }

  /** interval:s:N's block: exit() and nothing else (printing at intervals is -i's job). */
  private intervalBlock(p: { seconds: number; text: string; col: number }): NonNullable<Program["exitAfter"]> {
    const other = (col: number): never => {
      throw unsupported(col, `an interval probe doing anything but exit()`, "use -i/--interval SECONDS to print (and clear) the maps every N seconds; interval:s:N { exit(); } ends the session");
    };
    if (this.lx.peekChar() === "/") other(this.lx.peek().col);
    this.expect("{");
    const t = this.lx.next();
    if (t.kind !== "ident" || t.text !== "exit") other(t.col);
    this.expect("(");
    const close = this.lx.next();
    if (close.text !== ")") throw unsupported(close.col, "exit() with an argument", "write exit();");
    if (this.lx.peek().text === ";") this.lx.next();
    const end = this.lx.peek();
    if (end.text !== "}" || end.kind === "string") other(end.col);
    this.lx.next();
    return p;
  }

  private probe(): { kind: "trace"; probe: ProbeSpec } | { kind: "interval"; seconds: number; text: string; col: number } {
    const t = this.lx.probeSpec();
    const parts = t.text.split(":");
    const provider = ({ k: "kprobe", kr: "kretprobe", u: "uprobe", ur: "uretprobe", U: "usdt" } as Record<string, string>)[parts[0]!] ?? parts[0]!;
    if (provider === "profile" || provider === "p") return { kind: "trace", probe: profileProbe(parts, t.text, t.col) };
    if (provider === "interval" || provider === "i") return { kind: "interval", ...intervalProbe(parts, t.text, t.col) };
    checkProvider(provider, t.col);
    if (provider === "uprobe" || provider === "uretprobe" || provider === "usdt") return { kind: "trace", probe: userProbe(provider, parts.slice(1), t) };
    if (provider !== "tracepoint" && provider !== "t") throw unsupported(t.col, `the probe "${t.text}"`, "probes are tracepoint:CATEGORY:EVENT (wildcards * allowed), profile:hz:N, uprobe:PATH:FUNC, uretprobe:PATH:FUNC or usdt:PATH:PROVIDER:NAME");
    if (parts.length !== 3) throw syntaxError(t.col, `"${t.text}": expected tracepoint:CATEGORY:EVENT`);
    const [, category, event] = parts as [string, string, string];
    if (!/^[A-Za-z0-9_*]+$/.test(category) || !/^[A-Za-z0-9_*]+$/.test(event)) throw syntaxError(t.col, `"${t.text}": tracepoint names are [A-Za-z0-9_] with * wildcards`);
    return { kind: "trace", probe: { provider: "tracepoint", category, event, text: `tracepoint:${category}:${event}`, col: t.col } };
  }

  private statement(): Statement {
    const t = this.lx.next();
    if (t.kind === "map") {
      const name = t.text;
      const keys: Expr[] = [];
      if (this.lx.peek().text === "[") {
        this.lx.next();
        keys.push(this.expr());
        while (this.lx.peek().text === ",") {
          this.lx.next();
          keys.push(this.expr());
        }
        this.expect("]");
      }
      const eq = this.lx.next();
      if (eq.text !== "=") {
        if (eq.kind === "punct" && ["++", "--", "+=", "-="].includes(eq.text)) throw unsupported(eq.col, `"${name}${eq.text}"`, `write ${name} = count() (or sum(x))`);
        throw syntaxError(eq.col, `expected "=" after ${name}, got ${describe(eq)}`);
      }
      const fn = this.lx.next();
      if (fn.kind !== "ident") throw unsupported(fn.col, `assigning ${describe(fn)} to a map`, "maps take count() sum() min() max() avg() hist() lhist()");
      if (!(AGG_FNS as readonly string[]).includes(fn.text)) {
        checkConstruct(fn.text, fn.col);
        throw unsupported(fn.col, `assigning "${fn.text}" to a map`, "maps take count() sum() min() max() avg() hist() lhist()");
      }
      this.expect("(");
      const args = this.callArgs();
      return { kind: "map", name, keys, fn: fn.text as AggFn, args, col: t.col };
    }
    if (t.kind === "ident" && t.text === "printf") {
      this.expect("(");
      const f = this.lx.next();
      if (f.kind !== "string") throw syntaxError(f.col, "printf's first argument must be a format string");
      const args: Expr[] = [];
      while (this.lx.peek().text === ",") {
        this.lx.next();
        args.push(this.expr());
      }
      this.expect(")");
      return { kind: "printf", format: f.text, args, col: t.col };
    }
    if (t.kind === "var") throw unsupported(t.col, `the scratch variable ${t.text}`, "variables are not supported; use the value directly, e.g. @[comm] = sum(args.ret)");
    if (t.kind === "ident") checkConstruct(t.text, t.col);
    throw syntaxError(t.col, `expected a map assignment (@name = count()) or printf(...), got ${describe(t)}`);
  }

  /** Arguments after "(": expr, ... ")" */
  private callArgs(): Expr[] {
    const args: Expr[] = [];
    if (this.lx.peek().text === ")") {
      this.lx.next();
      return args;
    }
    args.push(this.expr());
    while (this.lx.peek().text === ",") {
      this.lx.next();
      args.push(this.expr());
    }
    this.expect(")");
    return args;
  }

  private expr(): Expr {
    if (++this.depth > MAX_DEPTH) throw syntaxError(this.lx.peek().col, `expression nested deeper than ${MAX_DEPTH}`);
    try {
      let left = this.and();
      while (this.lx.peek().text === "||") {
        const op = this.lx.next();
        left = { kind: "binary", op: "||", left, right: this.and(), col: op.col };
      }
      return left;
    } finally {
      this.depth--;
    }
  }

  private and(): Expr {
    let left = this.unary();
    while (this.lx.peek().text === "&&") {
      const op = this.lx.next();
      left = { kind: "binary", op: "&&", left, right: this.unary(), col: op.col };
    }
    return left;
  }

  private unary(): Expr {
    const t = this.lx.peek();
    if (t.kind === "punct" && t.text === "!") {
      this.lx.next();
      if (++this.depth > MAX_DEPTH) throw syntaxError(t.col, `expression nested deeper than ${MAX_DEPTH}`);
      try {
        return { kind: "not", arg: this.unary(), col: t.col };
      } finally {
        this.depth--;
      }
    }
    return this.cmp();
  }

  private cmp(): Expr {
    const left = this.primary();
    const t = this.lx.peek();
    if (t.kind === "punct" && ["==", "!=", "<", "<=", ">", ">="].includes(t.text)) {
      this.lx.next();
      return { kind: "binary", op: t.text as CmpOp, left, right: this.primary(), col: t.col };
    }
    if (t.kind === "punct" && !["/", ")", "]", ",", "&&", "||", ";", "}"].includes(t.text)) unsupportedOperator(t.text, t.col);
    return left;
  }

  private primary(): Expr {
    const t = this.lx.next();
    switch (t.kind) {
      case "number":
        return { kind: "number", value: t.value!, col: t.col };
      case "string":
        return { kind: "string", value: t.text, col: t.col };
      case "var":
        throw unsupported(t.col, `the scratch variable ${t.text}`, "variables are not supported; use the value directly");
      case "map":
        throw unsupported(t.col, `reading the map ${t.text} in an expression`, "maps are written by count()/sum()/...; ebpfctl prints them");
      case "eof":
        throw syntaxError(t.col, "unexpected end of the program");
      case "punct":
        if (t.text === "(") {
          const e = this.expr();
          this.expect(")");
          return e;
        }
        if (t.text === "-") {
          const n = this.lx.next();
          if (n.kind !== "number") unsupportedOperator("-", t.col);
          return { kind: "number", value: -n.value!, col: t.col };
        }
        if (t.text === "!") return { kind: "not", arg: this.primary(), col: t.col };
        if (["{", "}", "[", "]", "/", ",", ";", "=", ")"].includes(t.text)) throw syntaxError(t.col, `expected a value, got "${t.text}"`);
        return unsupportedOperator(t.text, t.col);
      case "ident":
        break;
    }
    if (t.text === "args") {
      const dot = this.lx.next();
      if (dot.text !== "." && dot.text !== "->") throw syntaxError(dot.col, `expected args.FIELD, got ${describe(dot)}`);
      const f = this.lx.next();
      if (f.kind !== "ident") throw syntaxError(f.col, `expected a field name after args., got ${describe(f)}`);
      return { kind: "arg", field: f.text, col: t.col };
    }
    if (t.text === "str") {
      this.expect("(");
      const arg = this.expr();
      const next = this.lx.next();
      if (next.text === ",") throw unsupported(next.col, "str() with a length", "str(x) reads up to 63 bytes; a length argument is not supported");
      if (next.text !== ")") throw syntaxError(next.col, `expected ")", got ${describe(next)}`);
      return { kind: "str", arg, col: t.col };
    }
    const argn = /^arg(\d+)$/.exec(t.text);
    if (argn) {
      const index = Number(argn[1]);
      if (index >= MAX_UARGS || argn[1]!.length > 1) throw semanticError(t.col, `${t.text}: uprobes and USDT probes offer arg0..arg${MAX_UARGS - 1}`);
      return { kind: "argn", index, col: t.col };
    }
    if ((BUILTINS as readonly string[]).includes(t.text)) {
      if ((t.text === "kstack" || t.text === "ustack") && this.lx.peek().text === "(") throw unsupported(t.col, `${t.text}() with arguments`, `write ${t.text}: bpftrace's default format, up to 127 frames`);
      return { kind: "builtin", name: t.text as Builtin, col: t.col };
    }
    checkConstruct(t.text, t.col);
    if ((AGG_FNS as readonly string[]).includes(t.text)) throw unsupported(t.col, `${t.text}() outside a map assignment`, `write @name = ${t.text}(...)`);
    throw syntaxError(t.col, `unknown identifier "${t.text}"`, "builtins: comm pid tid uid cgroup probe kstack ustack (uprobe/usdt: arg0..arg5; uretprobe: retval); fields: args.NAME (ebpfctl probes -v lists them)");
  }
}

function describe(t: Token): string {
  if (t.kind === "eof") return "the end of the program";
  if (t.kind === "string") return `the string "${t.text}"`;
  return `"${t.text}"`;
}

const SYMBOL = /^[A-Za-z_.$][A-Za-z0-9_.$@]*$/;
const USDT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** uprobe:PATH:FUNC, uretprobe:PATH:FUNC, usdt:PATH[:PROVIDER]:NAME. The path is absolute; no wildcards. */
function userProbe(provider: "uprobe" | "uretprobe" | "usdt", rest: string[], t: Token): ProbeSpec {
  const form = provider === "usdt" ? "usdt:PATH:PROVIDER:NAME (or usdt:PATH:NAME)" : `${provider}:PATH:FUNC`;
  const binary = rest[0] ?? "";
  if (!binary.startsWith("/")) throw syntaxError(t.col, `"${t.text}": expected ${form} with an absolute PATH`, "e.g. uprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:malloc");
  if (binary.includes("*") || rest.slice(1).some((p) => p.includes("*"))) throw unsupported(t.col, `a wildcard in "${t.text}"`, "name one binary and one function (or USDT probe)");
  if (provider === "usdt") {
    if (rest.length !== 2 && rest.length !== 3) throw syntaxError(t.col, `"${t.text}": expected ${form}`);
    const [usdtProvider, name] = rest.length === 3 ? [rest[1]!, rest[2]!] : [undefined, rest[1]!];
    if ((usdtProvider !== undefined && !USDT_NAME.test(usdtProvider)) || !USDT_NAME.test(name)) throw syntaxError(t.col, `"${t.text}": USDT provider and probe names are [A-Za-z0-9_]`);
    return { provider, binary, ...(usdtProvider !== undefined ? { usdtProvider } : {}), name, text: `usdt:${binary}:${usdtProvider !== undefined ? `${usdtProvider}:` : ""}${name}`, col: t.col };
  }
  if (rest.length !== 2) throw syntaxError(t.col, `"${t.text}": expected ${form}`);
  const symbol = rest[1]!;
  if (!SYMBOL.test(symbol)) throw syntaxError(t.col, `"${t.text}": "${symbol}" is not a symbol name`, "offsets (FUNC+0x10) and addresses are not supported; name the function");
  return { provider, binary, symbol, text: `${provider}:${binary}:${symbol}`, col: t.col };
}
