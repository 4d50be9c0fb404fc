// Loaded by `npm test` (--import) before the test files: the suite runs on the CPU unless
// TOKENFLOW_PROVIDERS says otherwise, so results do not depend on the machine's GPU; the WebGPU
// tests name their provider. Set in the runner process, inherited by every test process.
process.env.TOKENFLOW_PROVIDERS ??= 'cpu';
