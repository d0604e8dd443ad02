// What the operator commands (dlq, quarantine) share about their command line.

/** `--help`, `-h` or `help` first: print the usage on stdout and exit 0, as command-line tools do. */
export function wantsHelp(argv: string[]): boolean {
  return argv.some((a) => a === '--help' || a === '-h') || argv[0] === 'help';
}
