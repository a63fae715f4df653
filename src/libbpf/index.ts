export { BpfObject, BpfProgram, BpfMap, LoadError, ClosedHandleError, possibleCpus } from "./object";
export { BpfLink } from "./link";
export { RingBufferReader, type SampleHandler } from "./ringbuf";
export { Btf, BtfKind, BtfError, type FieldLayout, type FieldKind } from "./btf";
export { LibbpfError, EPERM, ENOENT, EINVAL, EOPNOTSUPP } from "./error";
export { progInfo, linkInfo, allProgIds, allLinkIds, BpfStatsHandle, type ProgInfo, type LinkInfo } from "./info";
export { captureLibbpfLog, drainLibbpfLog, type LibbpfLogLine } from "./log";
export { libbpfVersion } from "./version";
export { EventReader, type DecodedEvent, type EventValue } from "./event-reader";
