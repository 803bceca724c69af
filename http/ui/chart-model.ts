/**
 * The visualiser's chart model: the IP machine's own JSON (`GET /machine` → `machine`, which is
 * `ipMachine.toJSON()`) turned into nodes and edges, before any layout. Pure and DOM-free, so
 * unit tests run it in Node on the real machine's JSON. Never a hand-drawn copy of the chart:
 * every state, event, guard and action shown comes from that JSON.
 *
 * Edges are grouped per (source, target) pair: one edge carries every event between the same two
 * states. A targetless transition (XState's self-transition that runs no entry action again) is
 * a self-loop on its source.
 */

export interface ChartTransition {
  event: string;
  /** Guard name when the transition is guarded (`atMostOne`). */
  guard?: string;
}

export interface ChartNode {
  /** The state's key (`BOOTING`): what snapshots and the journal call it. */
  id: string;
  initial: boolean;
  entry: string[];
  exit: string[];
}

export interface ChartEdge {
  /** `SOURCE->TARGET`. */
  id: string;
  source: string;
  target: string;
  selfLoop: boolean;
  transitions: ChartTransition[];
  /** One line per transition: `elected`, `fault [atMostOne]`. */
  labelLines: string[];
  /** Every transition on this edge is guarded (drawn dashed). */
  guarded: boolean;
}

export interface ChartModel {
  machineId: string;
  initial: string;
  nodes: ChartNode[];
  edges: ChartEdge[];
}

export class ChartModelError extends Error {
  override readonly name = 'ChartModelError';
  readonly code = 'MACHINE_JSON_INVALID';
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asArray(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  return value === undefined || value === null ? [] : [value];
}

/** Action entries are `{type}` objects in XState 5's JSON; plain strings are accepted too. */
function actionNames(value: unknown): string[] {
  return asArray(value)
    .map((action) => (typeof action === 'string' ? action : isObject(action) ? action['type'] : undefined))
    .filter((name): name is string => typeof name === 'string');
}

/** `#ip.STANDBY` → the key of the state node whose id is `ip.STANDBY`. */
function resolveTarget(target: unknown, keyById: Map<string, string>): string {
  if (typeof target !== 'string') throw new ChartModelError(`transition target is not a string`);
  const id = target.startsWith('#') ? target.slice(1) : target;
  // A plain key (`STANDBY`) is accepted too.
  const key = keyById.get(id) ?? ([...keyById.values()].includes(id) ? id : undefined);
  if (!key) throw new ChartModelError(`transition target ${target} is not a state of the machine`);
  return key;
}

export function edgeId(source: string, target: string): string {
  return `${source}->${target}`;
}

export function transitionLabel(transition: ChartTransition): string {
  return transition.guard ? `${transition.event} [${transition.guard}]` : transition.event;
}

/** Builds the chart model from the machine's JSON (`ipMachine.toJSON()`). */
export function chartModel(machine: unknown): ChartModel {
  if (!isObject(machine) || !isObject(machine['states'])) {
    throw new ChartModelError('machine JSON has no states');
  }
  const machineId = typeof machine['id'] === 'string' ? machine['id'] : 'machine';
  const states = Object.entries(machine['states']).filter((entry): entry is [string, Json] =>
    isObject(entry[1]),
  );
  if (states.length === 0) throw new ChartModelError('machine JSON has no states');
  const keyById = new Map<string, string>();
  for (const [key, node] of states) {
    keyById.set(typeof node['id'] === 'string' ? node['id'] : `${machineId}.${key}`, key);
  }

  const initialTargets = isObject(machine['initial']) ? asArray(machine['initial']['target']) : [];
  const initial =
    initialTargets.length > 0
      ? resolveTarget(initialTargets[0], keyById)
      : typeof machine['initial'] === 'string'
        ? machine['initial']
        : states[0]![0];

  const nodes: ChartNode[] = states.map(([key, node]) => ({
    id: key,
    initial: key === initial,
    entry: actionNames(node['entry']),
    exit: actionNames(node['exit']),
  }));

  const edges = new Map<string, ChartEdge>();
  for (const [source, node] of states) {
    const on = isObject(node['on']) ? node['on'] : {};
    for (const [event, candidates] of Object.entries(on)) {
      for (const candidate of asArray(candidates)) {
        if (!isObject(candidate)) continue;
        const targets = asArray(candidate['target']);
        const target = targets.length === 0 ? source : resolveTarget(targets[0], keyById);
        const transition: ChartTransition = { event };
        const guard = candidate['guard'];
        if (typeof guard === 'string') transition.guard = guard;
        else if (isObject(guard) && typeof guard['type'] === 'string') transition.guard = guard['type'];
        const id = edgeId(source, target);
        let edge = edges.get(id);
        if (!edge) {
          edge = {
            id,
            source,
            target,
            selfLoop: source === target,
            transitions: [],
            labelLines: [],
            guarded: true,
          };
          edges.set(id, edge);
        }
        edge.transitions.push(transition);
        edge.labelLines.push(transitionLabel(transition));
        if (!transition.guard) edge.guarded = false;
      }
    }
  }
  return { machineId, initial, nodes, edges: [...edges.values()] };
}

/**
 * The edge a journaled transition took, when the chart has one. Guarded alternatives are
 * preferred only when no unguarded one matches (the recorded `to` decides between them).
 */
export function edgeOf(model: ChartModel, from: string, event: string, to: string): ChartEdge | undefined {
  return model.edges.find(
    (edge) =>
      edge.source === from &&
      edge.target === to &&
      edge.transitions.some((transition) => transition.event === event),
  );
}
