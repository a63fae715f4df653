#!/usr/bin/env bash
# Regenerates src/output/syscalls-x86_64.ts (syscall number -> name) from the installed kernel
# UAPI header. Offline by design: reads /usr/include only.
set -euo pipefail
cd "$(dirname "$0")/.."
hdr=${1:-/usr/include/x86_64-linux-gnu/asm/unistd_64.h}
{
  echo "// Generated from $hdr (Debian linux-libc-dev) by"
  echo "// scripts/gen-syscalls.sh. Do not edit: x86_64 syscall numbers to names, for syscount."
  echo "export const X86_64_SYSCALLS: Record<number, string> = {"
  awk '/^#define __NR_/ { n=$2; sub("__NR_","",n); printf "  %s: \"%s\",\n", $3, n }' "$hdr"
  echo "};"
} > src/output/syscalls-x86_64.ts
