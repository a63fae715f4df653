// Placeholder until aggregation rendering lands: refuses clearly rather than pretending.
import type { BpfObject } from "../libbpf";
import type { Manifest } from "../recipe/manifest";
import type { ParameterValues } from "./params";
import { EbpfctlError, ExitCode } from "../errors";

export interface AggregateOptions {
  interval?: string;
  top?: string;
  folded?: boolean;
  json?: boolean;
}

export function aggregatePlan(manifest: Manifest, _params: ParameterValues, _opts: AggregateOptions): { intervalMs?: number; snapshot(obj: BpfObject, final: boolean): string[] } {
  throw new EbpfctlError("EBPFCTL-E0014", `${manifest.name}: aggregation output is not available in this build`, ExitCode.RECIPE);
}
