/** Process entry of sipflow-operator: wires the commands to stdout/stderr and the exit code. */
import { main } from './commands.js';

const code = await main(process.argv.slice(2), {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
});
process.exitCode = code;
