#!/usr/bin/env bun
// The first statement: stop signals are caught before any other module is evaluated (imports are
// hoisted, so everything else is required after it; see src/early-signals.ts).
import { installEarlySignalHandlers } from "../early-signals";
installEarlySignalHandlers();
// eslint-disable-next-line @typescript-eslint/no-require-imports -- evaluated only after the handlers exist
require("./run-cli");
