/**
 * The journal's note codes: one registry, so a code cannot be written without its level and
 * meaning. docs/troubleshooting.md ("VIP journal notes") lists the same codes with the same
 * levels, and test/unit/note-codes.test.ts holds the two to each other.
 */

export const NOTE_LEVELS = ['info', 'warn', 'error'] as const;
export type NoteLevel = (typeof NOTE_LEVELS)[number];

export const NOTE_CODES = {
  ANNOUNCE_SENT: { level: 'info', meaning: 'a round of gratuitous ARP / unsolicited NA went out' },
  ADDRESS_IN_USE: {
    level: 'warn',
    meaning: 'the probe before a first bind got an answer from a machine that is not a LinK holder',
  },
  ADDRESS_EXPIRED: { level: 'warn', meaning: 'the kernel dropped the address: its lifetime ran out' },
  PROBE_FAILED: {
    level: 'error',
    meaning: 'an RFC 5227 probe (before a first bind, or after a takeover) could not run',
  },
  CONFLICT_DETECTED: {
    level: 'warn',
    meaning:
      'another MAC claimed a VIP this host holds (gratuitous ARP, ARP from the VIP, neighbour advertisement): defended if etcd says this host owns it',
  },
  TAKEOVER_PROBED: {
    level: 'info',
    meaning: 'after a takeover, nobody else answered the RFC 5227 probe for the VIP',
  },
  SECOND_HOLDER: {
    level: 'warn',
    meaning: 'after a takeover, another MAC answered the RFC 5227 probe: a second machine holds the VIP',
  },
  REANNOUNCED: {
    level: 'info',
    meaning: 'etcd is back after a fault and this host still owns the VIP: announced again',
  },
  CLAIM_WATCH_FAILED: {
    level: 'error',
    meaning: 'listening for other MACs claiming the VIP failed: no defence until it works again (retried)',
  },
  BIND_FAILED: { level: 'error', meaning: 'the address could not be added' },
  UNBIND_FAILED: { level: 'error', meaning: 'the address could not be removed' },
  ANNOUNCE_FAILED: { level: 'error', meaning: 'an announcement could not be sent' },
  REFRESH_FAILED: { level: 'error', meaning: "the address's kernel lifetime could not be renewed" },
  INPUTS_FAILED: {
    level: 'error',
    meaning: "the VIP's election input failed: its actor gets no more events",
  },
  LINK_DOWN: {
    level: 'warn',
    meaning:
      'INTERFACE went down or lost carrier (TRACK_INTERFACE=on): the VIP gets health_check_fail, source link',
  },
  LINK_UP: {
    level: 'info',
    meaning: 'INTERFACE is up with carrier again: the VIP competes again after RISE_COUNT rounds',
  },
  LINK_WATCH_FAILED: {
    level: 'error',
    meaning: 'the netlink link notifications could not be followed: the link is no longer tracked',
  },
  HEALTH_MONITOR_FAILED: {
    level: 'error',
    meaning: 'the health monitor failed: a health_check_fail, retried',
  },
  ELECTION_ACTION_FAILED: { level: 'error', meaning: 'withdrawing or resuming candidacy failed' },
  RELEASE_FAILED: { level: 'error', meaning: 'releasing the lock failed' },
  VERDICT_REASSERTED: {
    level: 'warn',
    meaning:
      "etcd's verdict, re-read after a recovery, a recheck or a return to candidacy, differed from the VIP's state (an event was lost or came while ignored): the state follows etcd now",
  },
  HOOK_FAILED: { level: 'error', meaning: 'a notify hook (command or webhook) failed' },
  VIP_REMOVING: {
    level: 'info',
    meaning: 'DELETE: the VIP is given up outside the machine (candidacy withdrawn, unbound, lock released)',
  },
  FAILOVER_REQUESTED: {
    level: 'info',
    meaning:
      'failover: the lock is offered to the live candidates in turn; the VIP stays bound until one takes it (then `demoted` unbinds it)',
  },
  FAILOVER_HANDED_OVER: {
    level: 'info',
    meaning: 'failover: the named host took the lock; this host is demoted, unbinds, then tells it to bind',
  },
  PREEMPTED: {
    level: 'info',
    meaning:
      'a candidate with preempt on and a higher priority has been so for its preempt_delay: the VIP is handed to it (zero-gap, as failover)',
  },
  BALANCED: {
    level: 'info',
    meaning:
      'BALANCE=on: this host owns 2 or more of the equal-priority VIPs than the candidate named, which gets this one (zero-gap, as failover)',
  },
  PREEMPTION_FAILED: {
    level: 'warn',
    meaning:
      'handing the VIP to a preempting candidate failed (it left, or did not take it in time): kept, never unbound',
  },
  FAILOVER_TIMED_OUT: {
    level: 'warn',
    meaning:
      'failover: no candidate offered the lock took it in time; this host took it back, never unbound the VIP, and announces it again',
  },
  DRAIN_WITHDRAWN: {
    level: 'info',
    meaning:
      'drain: the VIP is out of the election (no lock attempts, no membership key) until DELETE /drain; handed over first when this host owned it',
  },
  DRAIN_KEPT: {
    level: 'warn',
    meaning:
      'drain: this host owns the VIP and keeps serving it: no other host carries it, or none took it in time; tried again with backoff',
  },
  DRAIN_RESUMED: { level: 'info', meaning: 'DELETE /drain: the VIP competes again' },
} as const satisfies Record<string, { level: NoteLevel; meaning: string }>;

export type NoteCode = keyof typeof NOTE_CODES;

/** The level a code is journaled and logged at: the registry's, never the call site's. */
export function levelOf(code: NoteCode): NoteLevel {
  return NOTE_CODES[code].level;
}
