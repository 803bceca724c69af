import type { ForeignClaim, NetAdapter } from '../adapters/net/types.ts';
import type { AddressController } from './address.ts';
import { Defender, type Conflict, type DefenderOptions } from './defence.ts';
import type { NoteCode } from './notes.ts';

/**
 * One VIP's side of RFC 5227 once it is held: the claims other MACs make on it go to its
 * Defender (actors/defence.ts: answer, at a bounded rate, only while etcd says this host owns
 * it), each answer is journaled (CONFLICT_DETECTED) and passed to the notify hooks; after every
 * takeover one probe asks whether a second machine still holds the address, and what it finds
 * is journaled (TAKEOVER_PROBED or SECOND_HOLDER).
 *
 * The claims arrive through the address controller, which listens exactly while the address is
 * wanted and bound; the probe's answers are claims like any other (an ARP reply from the VIP),
 * so they are defended too.
 */

export interface VipConflictsOptions {
  cidr: string;
  net: NetAdapter;
  /** Lazy: the controller is built with this object's claim handler. */
  address: () => AddressController;
  /** etcd's last word: this host holds the lock under its live lease, and its IP actor is ACTIVATED. */
  isOwner: () => boolean;
  note: (code: NoteCode, message: string) => void;
  /** Fires the notify hooks for one reported conflict. */
  notifyConflict: (mac: string) => void;
  /** The takeover probe could not be sent (PROBE_FAILED). */
  onProbeError: (err: unknown) => void;
  /** How long the takeover probe listens (a second probe goes out halfway). */
  probeListenMs: number;
  /**
   * The address was on the interface when this process started (a restart): its first
   * ACTIVATED resumes this host's own ownership, no takeover, and is not probed (a restart of
   * thousands of VIPs must not send a probe pair for each).
   */
  heldAtStart?: boolean;
  /** Tests: the Defender's clock and timers, and the probe's wait. */
  defender?: Pick<DefenderOptions, 'now' | 'setTimer'>;
  sleep?: (ms: number) => Promise<void>;
}

const KIND_TEXT: Record<ForeignClaim['kind'], string> = {
  'arp-request': 'ARP request',
  'arp-reply': 'ARP reply',
  na: 'neighbour advertisement',
  ns: 'neighbour solicitation',
};

export function conflictMessage(cidr: string, conflict: Conflict): string {
  const frames = conflict.frames > 1 ? `, ${conflict.frames} frames since the last answer` : '';
  const claimed = `${cidr}: ${conflict.mac} claimed it (${KIND_TEXT[conflict.kind]}${frames})`;
  if (conflict.defended) return `${claimed} while this host owns it: defended with an announcement`;
  if (conflict.notDefended === 'not-owner')
    return `${claimed} while etcd does not say this host owns it (etcd unreachable, or a verdict on its way): not defended`;
  return `${claimed}, but the address is no longer held here: not defended`;
}

export class VipConflicts {
  private readonly defender: Defender;
  /** MACs heard during the takeover probe's window; undefined outside it. */
  private probeHeard: Set<string> | undefined;
  /** Bumped by each takeover: a probe still listening for an earlier one reports nothing. */
  private takeovers = 0;

  constructor(private readonly options: VipConflictsOptions) {
    this.defender = new Defender({
      ...options.defender,
      isOwner: options.isOwner,
      announce: () => options.address().announceNow(),
      report: (conflict) => {
        options.note('CONFLICT_DETECTED', conflictMessage(options.cidr, conflict));
        options.notifyConflict(conflict.mac);
      },
    });
  }

  /** A frame from another MAC claiming the VIP (AddressControllerOptions.onClaim). */
  claim(claim: ForeignClaim): void {
    this.probeHeard?.add(claim.mac);
    this.defender.claim(claim);
  }

  /**
   * RFC 5227 probe once the takeover's bind is done: anyone still answering for the address
   * (a frozen former owner whose kernel kept it, a stranger) shows up as a claim. Never delays
   * the takeover: the address is bound and announced before the probe goes out.
   */
  afterTakeover(): void {
    const { net, cidr, probeListenMs } = this.options;
    const sendProbe = net.sendProbe?.bind(net);
    if (sendProbe === undefined) return;
    const takeover = ++this.takeovers;
    if (takeover === 1 && this.options.heldAtStart === true) return;
    const current = (): boolean => {
      const address = this.options.address();
      return takeover === this.takeovers && address.wantsBound && address.isBound;
    };
    void this.options
      .address()
      .settled()
      .then(async () => {
        if (!current()) return;
        const heard = new Set<string>();
        this.probeHeard = heard;
        try {
          const sleep = this.options.sleep ?? delay;
          sendProbe(cidr);
          await sleep(probeListenMs / 2);
          if (current()) sendProbe(cidr); // one lost frame must not hide a holder
          await sleep(probeListenMs / 2);
        } catch (err) {
          this.options.onProbeError(err);
          return;
        } finally {
          if (this.probeHeard === heard) this.probeHeard = undefined;
        }
        if (takeover !== this.takeovers) return;
        if (heard.size === 0) {
          this.options.note(
            'TAKEOVER_PROBED',
            `${cidr}: taken over; no other machine answered the RFC 5227 probe within ${probeListenMs} ms`,
          );
        } else {
          this.options.note(
            'SECOND_HOLDER',
            `${cidr}: taken over, but ${[...heard].join(', ')} answered the RFC 5227 probe: another machine holds it too (see CONFLICT_DETECTED)`,
          );
        }
      });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
