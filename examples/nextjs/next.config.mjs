/** @type {import('next').NextConfig} */
export default {
  // The SDK is a local package (file:../../sdk/typescript): let the build follow it outside this folder.
  outputFileTracingRoot: new URL("../..", import.meta.url).pathname,
};
