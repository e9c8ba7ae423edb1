/** Preload (`node --import`) that makes the process report the Node version in $FAKE_NODE_VERSION. */
const version = process.env.FAKE_NODE_VERSION;
if (version) {
  Object.defineProperty(process.versions, 'node', { value: version, configurable: true });
  Object.defineProperty(process, 'version', { value: `v${version}`, configurable: true });
}
