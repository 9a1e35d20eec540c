import os from 'node:os';

/**
 * @typedef {object} MachineDescription
 * @property {string} cpuModel
 * @property {number} cpuCount
 * @property {number} totalMemoryBytes
 * @property {string} platform
 * @property {string} arch
 * @property {string} kernel   os.release()
 * @property {string} node     process.version
 * @property {string} date     ISO date-time of the run
 */

/**
 * The machine the figures were taken on; figures are only comparable on the same machine.
 * @param {Date} [now]
 * @returns {MachineDescription}
 */
export function describeMachine(now = new Date()) {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() || 'unknown CPU',
    cpuCount: cpus.length,
    totalMemoryBytes: os.totalmem(),
    platform: process.platform,
    arch: process.arch,
    kernel: os.release(),
    node: process.version,
    date: now.toISOString(),
  };
}

/**
 * One line such as "2 × Intel(R) Xeon(R) …, 7.8 GiB RAM, linux x64 kernel 6.1.0, Node v20.20.2, 2026-11-28".
 * @param {MachineDescription} m
 * @returns {string}
 */
export function formatMachine(m) {
  const gib = (m.totalMemoryBytes / 1024 ** 3).toFixed(1);
  return `${m.cpuCount} × ${m.cpuModel}, ${gib} GiB RAM, ${m.platform} ${m.arch} kernel ${m.kernel}, Node ${m.node}, ${m.date.slice(0, 10)}`;
}
