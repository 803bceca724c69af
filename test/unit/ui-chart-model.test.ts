import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ElkBundled from 'elkjs/lib/elk.bundled.js';
import { chartModel, ChartModelError, edgeOf, type ChartModel } from '../../http/ui/chart-model.ts';
import { elkGraph, INITIAL_MARKER, layoutChart } from '../../http/ui/layout.ts';
import {
  IP_EVENT_TYPES,
  IP_STATES,
  atMostOneFaultTargets,
  ipEntryActions,
  ipMachine,
  ipTransitionTable,
} from '../../machines/ip.ts';

/**
 * The visualiser's chart model, built from the machine's JSON exactly as GET /machine serves it
 * (`ipMachine.toJSON()` through JSON), checked against the machine's exported table: every
 * table cell is on the chart, and nothing else is.
 */

const ELK = ((ElkBundled as { default?: unknown }).default ?? ElkBundled) as typeof ElkBundled.default;

function served(): unknown {
  return JSON.parse(JSON.stringify(ipMachine.toJSON())) as unknown;
}

function modelOfMachine(): ChartModel {
  return chartModel(served());
}

describe('chart model from GET /machine', () => {
  it('has the four states, BOOTING initial, with their entry and exit actions', () => {
    const model = modelOfMachine();
    assert.equal(model.machineId, 'ip');
    assert.equal(model.initial, 'BOOTING');
    assert.deepEqual(
      model.nodes.map((n) => n.id),
      [...IP_STATES],
    );
    assert.deepEqual(
      model.nodes.filter((n) => n.initial).map((n) => n.id),
      ['BOOTING'],
    );
    for (const node of model.nodes) {
      assert.deepEqual(node.entry, [...ipEntryActions[node.id as keyof typeof ipEntryActions]], node.id);
    }
    assert.deepEqual(model.nodes.find((n) => n.id === 'FAILING')?.exit, ['resumeCandidacy']);
  });

  it('puts every cell of the transition table on exactly one edge, unguarded', () => {
    const model = modelOfMachine();
    for (const from of IP_STATES) {
      for (const event of IP_EVENT_TYPES) {
        const to = ipTransitionTable[from][event];
        const matching = model.edges.filter(
          (edge) =>
            edge.source === from && edge.transitions.some((t) => t.event === event && t.guard === undefined),
        );
        assert.equal(matching.length, 1, `${from} --${event}-->`);
        assert.equal(matching[0]!.target, to, `${from} --${event}--> ${to}`);
      }
    }
  });

  it('shows the at-most-one fault alternatives as guarded transitions', () => {
    const model = modelOfMachine();
    const guarded = model.edges.flatMap((edge) =>
      edge.transitions
        .filter((t) => t.guard)
        .map((t) => `${edge.source}->${edge.target}:${t.event}[${t.guard}]`),
    );
    const expected = IP_STATES.filter((s) => atMostOneFaultTargets[s] !== ipTransitionTable[s].fault).map(
      (s) => `${s}->${atMostOneFaultTargets[s]}:fault[atMostOne]`,
    );
    assert.deepEqual(guarded.sort(), expected.sort());
    assert.ok(model.edges.find((e) => e.id === 'BOOTING->STANDBY')?.labelLines.includes('fault [atMostOne]'));
  });

  it('groups events between the same pair into one edge and draws self-loops', () => {
    const model = modelOfMachine();
    const ids = model.edges.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, 'one edge per (source, target)');
    assert.deepEqual(model.edges.find((e) => e.id === 'STANDBY->ACTIVATED')?.labelLines, [
      'fault',
      'elected',
    ]);
    const loop = model.edges.find((e) => e.id === 'FAILING->FAILING');
    assert.ok(loop?.selfLoop);
    assert.deepEqual(loop.labelLines, ['fault', 'elected', 'demoted', 'health_check_fail']);
    // Every state has a self-loop: health_check_success keeps BOOTING, ACTIVATED and STANDBY.
    assert.deepEqual(
      model.edges.filter((e) => e.selfLoop).map((e) => e.source),
      [...IP_STATES],
    );
    // 12 pairs: each state's self-loop plus the distinct targets of its row (and guarded ones).
    assert.equal(model.edges.length, 12);
  });

  it('finds the edge a journaled transition took', () => {
    const model = modelOfMachine();
    assert.equal(edgeOf(model, 'ACTIVATED', 'demoted', 'STANDBY')?.id, 'ACTIVATED->STANDBY');
    assert.equal(edgeOf(model, 'STANDBY', 'demoted', 'STANDBY')?.id, 'STANDBY->STANDBY');
    assert.equal(edgeOf(model, 'FAILING', 'elected', 'ACTIVATED'), undefined);
  });

  it('accepts plain-string actions and targets, and rejects what is not a machine', () => {
    const model = chartModel({
      id: 'm',
      initial: 'A',
      states: {
        A: { id: 'm.A', entry: ['go'], on: { next: { target: 'B' } } },
        B: { id: 'm.B', on: { back: [{ target: ['#m.A'], guard: { type: 'g' } }], stay: [{}] } },
      },
    });
    assert.equal(model.initial, 'A');
    assert.deepEqual(model.nodes[0]?.entry, ['go']);
    assert.deepEqual(
      model.edges.map((e) => [e.id, e.labelLines, e.guarded]),
      [
        ['A->B', ['next'], false],
        ['B->A', ['back [g]'], true],
        ['B->B', ['stay'], false],
      ],
    );
    assert.throws(() => chartModel(null), ChartModelError);
    assert.throws(() => chartModel({ states: {} }), ChartModelError);
    assert.throws(
      () => chartModel({ id: 'm', states: { A: { on: { x: { target: '#m.Z' } } } } }),
      /not a state/,
    );
  });
});

describe('chart layout (elkjs)', () => {
  it('feeds ELK every state, edge and label, plus the initial marker', () => {
    const model = modelOfMachine();
    const graph = elkGraph(model);
    assert.deepEqual(
      graph.children?.map((c) => c.id),
      [...IP_STATES, INITIAL_MARKER],
    );
    assert.equal(graph.edges?.length, model.edges.length + 1);
    assert.ok(graph.edges?.some((e) => e.sources[0] === INITIAL_MARKER && e.targets[0] === 'BOOTING'));
    for (const edge of graph.edges ?? []) {
      if (edge.sources[0] === INITIAL_MARKER) continue;
      assert.ok((edge.labels?.[0]?.width ?? 0) > 0, `${edge.id} has a sized label`);
    }
  });

  it('places nodes without overlap and routes every edge', async () => {
    const layout = await layoutChart(modelOfMachine(), new ELK());
    const states = layout.nodes.filter((n) => n.id !== INITIAL_MARKER);
    assert.equal(states.length, 4);
    for (const a of states) {
      for (const b of states) {
        if (a === b) continue;
        const apart =
          a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;
        assert.ok(apart, `${a.id} and ${b.id} overlap`);
      }
    }
    for (const edge of layout.edges) assert.ok(edge.points.length >= 2, `${edge.id} is routed`);
    assert.ok(layout.width > 0 && layout.height > 0);
  });
});
