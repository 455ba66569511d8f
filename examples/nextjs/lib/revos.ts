// One Revos client per server process (module scope), reading REVOS_API_KEY and REVOS_BASE_URL.
import { Revos } from "@revos/sdk";

const globalForRevos = globalThis as { revos?: Revos };

export const revos: Revos = globalForRevos.revos ?? new Revos({ maxBatchWaitMs: 200 });
globalForRevos.revos = revos; // survives hot reloads in `next dev`
