// s3rver in a process of its own, so a test measures only its own memory and the server's
// work runs on another core. Arguments: data directory, bucket. Prints `{"port":N}` once
// listening; exits when its stdin ends (the parent closed it, or died).
import process from 'node:process';
import S3rver from 's3rver';

const [directory, bucket] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.stdin.on('end', () => {
  server.close().finally(() => process.exit(0));
});
process.stdin.resume();
