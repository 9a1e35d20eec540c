// Spawn into an existing container against `crun exec` (see native-spawn-runc.mjs).
import { crunArgs } from '../../packages/native-ns/bench/common.mjs';
import base from './native-spawn.mjs';
import { execPeer } from './native-spawn-runc.mjs';

export default {
  ...base,
  name: 'native-spawn-vs-crun',
  peer: execPeer('crun', crunArgs),
};
