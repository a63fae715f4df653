// The command classes ebpfctl registers, one file each.
import type { CommandClass } from "clipanion";
import { VersionCommand } from "./version";
import { ListCommand } from "./list";
import { TraceCommand } from "./trace";

export const COMMANDS: CommandClass[] = [VersionCommand, ListCommand, TraceCommand];
