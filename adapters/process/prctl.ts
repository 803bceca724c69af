import koffi from 'koffi';
import { PrctlError } from './errors.ts';

/**
 * prctl(2) through koffi, synchronous so errno is read right after the call. The agent makes
 * itself non-dumpable at start: then /proc/<agent>/environ, /mem and ptrace need
 * CAP_SYS_PTRACE, which no child of the agent has, even one running as the same user (or as
 * uid 0 without capabilities). Its environment holds PASSWORD and the other secrets.
 */

// <linux/prctl.h>
const PR_GET_DUMPABLE = 3;
const PR_SET_DUMPABLE = 4;

const lib = koffi.load('libc.so.6');
const prctl = lib.func(
  'int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)',
) as (option: number, a2: number, a3: number, a4: number, a5: number) => number;

export function makeNonDumpable(): void {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) throw new PrctlError('PR_SET_DUMPABLE', koffi.errno());
}

export function isDumpable(): boolean {
  const result = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  if (result < 0) throw new PrctlError('PR_GET_DUMPABLE', koffi.errno());
  return result !== 0;
}
