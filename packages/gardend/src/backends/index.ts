/** The backends gardend serves, by `--backend` name. */
import type { BackendName } from '../options/schema.js';
import { openFakeBackend } from './fake.js';
import { openLinuxBackend } from './linux.js';
import { openModuleBackend } from './module.js';
import type { OpenBackend } from './types.js';

export const BACKENDS: Readonly<Record<BackendName, OpenBackend>> = {
  fake: openFakeBackend,
  linux: openLinuxBackend,
  module: (config, ctx) => openModuleBackend(config, ctx),
};
