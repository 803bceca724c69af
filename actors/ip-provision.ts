import { EMPTY, type Observable } from 'rxjs';
import { fromEventObservable } from 'xstate';
import { ipMachine, type IpEvent, type IpInputsParams, type IpMachine } from '../machines/ip.ts';
import {
  afterAddress,
  background,
  runtimeInputs$,
  type VipRuntime,
  type VipRuntimeDeps,
} from './vip-runtime.ts';

/**
 * The IP machine with its actions and inputs provided from the VIPs' runtimes. A VIP whose
 * runtime is gone (removed) gets no action and no inputs.
 */
export function provideIpMachine(
  runtime: (vipId: string) => VipRuntime | undefined,
  deps: VipRuntimeDeps,
  /** The host is drained and this VIP is out of the election (actors/drain.ts). */
  keepsOut: (vipId: string) => boolean = () => false,
): IpMachine {
  const after = (vipId: string, start: (r: VipRuntime) => void): void => {
    const r = runtime(vipId);
    if (r) afterAddress(deps, r, start);
  };
  const inBackground = (vipId: string, work: (r: VipRuntime) => Promise<unknown>): void => {
    const r = runtime(vipId);
    if (r) background(deps, r, 'RELEASE_FAILED', work);
  };
  /** election$ and health$ of one VIP, merged: the IP actor's only inputs. */
  const inputs$ = (vipId: string): Observable<IpEvent> => {
    const r = runtime(vipId);
    return r ? runtimeInputs$(deps, r) : EMPTY;
  };
  return ipMachine.provide({
    actions: {
      bindAddress: ({ context }) => runtime(context.vipId)?.address.want(true),
      // Entering ACTIVATED: announce, then probe once for a second holder (actors/conflicts.ts).
      announce: ({ context }) => {
        const r = runtime(context.vipId);
        r?.address.announce();
        r?.conflicts.afterTakeover();
      },
      removeAddress: ({ context }) => runtime(context.vipId)?.address.want(false),
      releaseLock: ({ context }) =>
        after(context.vipId, (r) => inBackground(context.vipId, () => r.election.release())),
      withdrawCandidacy: ({ context }) => after(context.vipId, (r) => r.election.setCandidate(false)),
      resumeCandidacy: ({ context }) =>
        after(context.vipId, (r) => {
          // Drained (actors/drain.ts): out of the election until DELETE /drain.
          if (!r.removing && !keepsOut(context.vipId)) r.election.setCandidate(true);
        }),
    },
    actors: {
      inputs: fromEventObservable(({ input }: { input: IpInputsParams }) => inputs$(input.vipId)),
    },
  });
}
