// The command classes ebpfctl registers, one file each.
import type { CommandClass } from "clipanion";
import { VersionCommand } from "./version";
import { ListCommand } from "./list";
import { TraceCommand } from "./trace";
import { DoctorCommand } from "./doctor";
import { KeysGenerateCommand } from "./keys-generate";
import { KeysListCommand } from "./keys-list";
import { RecipeSignCommand } from "./recipe-sign";
import { RecipeVerifyCommand } from "./recipe-verify";
import { RecipeInspectCommand } from "./recipe-inspect";
import { AuditShowCommand } from "./audit-show";
import { AuditVerifyCommand } from "./audit-verify";
import { AuditTailCommand } from "./audit-tail";
import { AuditRotateCommand } from "./audit-rotate";
import { KillSwitchOnCommand, KillSwitchOffCommand, KillSwitchStatusCommand } from "./kill-switch";
import { PsCommand } from "./ps";
import { StopCommand } from "./stop";
import { BundleCommand } from "./bundle";
import { VerifyCommand } from "./verify";

export const COMMANDS: CommandClass[] = [AuditShowCommand, AuditVerifyCommand, AuditTailCommand, AuditRotateCommand, VersionCommand, ListCommand, TraceCommand, DoctorCommand, KeysGenerateCommand, KeysListCommand, RecipeSignCommand, RecipeVerifyCommand, RecipeInspectCommand, VerifyCommand, KillSwitchOnCommand, KillSwitchOffCommand, KillSwitchStatusCommand, PsCommand, StopCommand, BundleCommand];
