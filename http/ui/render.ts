import type { ChartModel } from './chart-model.ts';
import { INITIAL_MARKER, LINE_HEIGHT, type ChartLayout, type PlacedEdge } from './layout.ts';

/**
 * Draws a laid-out chart as SVG (positions from elkjs, see layout.ts). Text goes in through
 * textContent only. States are `<g class="state" data-state="…">`, edges
 * `<g class="edge" data-edge="SOURCE->TARGET">`; highlight() marks the current state and the
 * edge the last step took.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number> = {},
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

function pathOf(points: readonly { x: number; y: number }[]): string {
  return points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
}

/** A filled triangle at the end of the polyline, pointing along its last segment. */
function arrowhead(points: readonly { x: number; y: number }[]): SVGPolygonElement | undefined {
  const end = points.at(-1);
  const before = points.at(-2);
  if (!end || !before) return undefined;
  const angle = Math.atan2(end.y - before.y, end.x - before.x);
  const size = 9;
  const wing = (delta: number) =>
    `${(end.x - size * Math.cos(angle + delta)).toFixed(1)},${(end.y - size * Math.sin(angle + delta)).toFixed(1)}`;
  return svg('polygon', { class: 'arrowhead', points: `${end.x},${end.y} ${wing(0.45)} ${wing(-0.45)}` });
}

function drawEdge(edge: PlacedEdge, model: ChartModel): SVGGElement {
  const chartEdge = model.edges.find((e) => e.id === edge.id);
  const group = svg('g', { class: chartEdge?.guarded ? 'edge guarded' : 'edge', 'data-edge': edge.id });
  const title = svg('title');
  title.textContent = `${edge.source} → ${edge.target}: ${chartEdge?.labelLines.join(', ') ?? ''}`;
  group.append(title, svg('path', { d: pathOf(edge.points) }));
  const head = arrowhead(edge.points);
  if (head) group.append(head);
  if (edge.label) {
    const { x, y, width, height, lines } = edge.label;
    group.append(svg('rect', { class: 'edge-label-bg', x, y, width, height, rx: 3 }));
    lines.forEach((line, i) => {
      const text = svg('text', { x: x + 4, y: y + (i + 1) * LINE_HEIGHT - 2 });
      text.textContent = line;
      group.append(text);
    });
  }
  return group;
}

export function renderChart(model: ChartModel, layout: ChartLayout): SVGSVGElement {
  const root = svg('svg', {
    viewBox: `0 0 ${Math.ceil(layout.width)} ${Math.ceil(layout.height)}`,
    'aria-labelledby': 'chart-svg-title',
    'data-machine': model.machineId,
  });
  const title = svg('title', { id: 'chart-svg-title' });
  title.textContent = `State chart of the ${model.machineId} machine: states ${model.nodes
    .map((n) => n.id)
    .join(', ')}; initial ${model.initial}`;
  root.append(title);

  const edges = svg('g', { class: 'edges' });
  for (const edge of layout.edges) {
    if (edge.source === INITIAL_MARKER) {
      const initial = svg('g', { class: 'initial', 'data-initial': edge.target });
      initial.append(svg('path', { d: pathOf(edge.points) }));
      const head = arrowhead(edge.points);
      if (head) initial.append(head);
      edges.append(initial);
    } else {
      edges.append(drawEdge(edge, model));
    }
  }
  const states = svg('g', { class: 'states' });
  for (const node of layout.nodes) {
    if (node.id === INITIAL_MARKER) {
      const marker = svg('g', { class: 'initial' });
      marker.append(
        svg('circle', { cx: node.x + node.width / 2, cy: node.y + node.height / 2, r: node.width / 2 }),
      );
      states.append(marker);
      continue;
    }
    const chartNode = model.nodes.find((n) => n.id === node.id);
    const group = svg('g', { class: 'state', 'data-state': node.id });
    const tip = svg('title');
    tip.textContent =
      `${node.id}${chartNode?.initial ? ' (initial)' : ''}` +
      `\nentry: ${chartNode?.entry.join(', ') || 'none'}` +
      `\nexit: ${chartNode?.exit.join(', ') || 'none'}`;
    const text = svg('text', {
      x: node.x + node.width / 2,
      y: node.y + node.height / 2,
      'text-anchor': 'middle',
      'dominant-baseline': 'central',
    });
    text.textContent = node.id;
    group.append(
      tip,
      svg('rect', { x: node.x, y: node.y, width: node.width, height: node.height, rx: 8 }),
      text,
    );
    states.append(group);
  }
  root.append(edges, states);
  return root;
}

/** Marks `state` as current (null: none) and `edge` as the one just taken; replaying styles both. */
export function highlight(
  root: SVGSVGElement,
  state: string | null,
  edge: string | undefined,
  replaying: boolean,
): void {
  root.classList.toggle('replaying', replaying);
  root.setAttribute('data-highlight', state ?? '');
  for (const group of root.querySelectorAll<SVGGElement>('g.state')) {
    const current = group.dataset['state'] === state;
    group.classList.toggle('current', current);
    if (current) group.setAttribute('aria-current', 'true');
    else group.removeAttribute('aria-current');
  }
  for (const group of root.querySelectorAll<SVGGElement>('g.edge')) {
    group.classList.toggle('taken', group.dataset['edge'] === edge);
  }
}
