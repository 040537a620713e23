/**
 * The content store a command uses: `--store DIR`, else the default for the environment.
 */
import * as path from "node:path";
import type { Store } from "../store/index.ts";
import { defaultStoreDir, openStore } from "../store/index.ts";
import type { Io } from "./io.ts";

/**
 * Opens the store at `dir`, else at the environment's default place.
 *
 * @category constructors
 */
export const storeOf = (dir: string | undefined, env: Io["env"]): Promise<Store> => openStore(path.resolve(dir ?? defaultStoreDir(env)));
