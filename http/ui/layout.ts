import type { ELK, ElkExtendedEdge, ElkNode, ElkPoint } from 'elkjs/lib/elk-api.js';
import type { ChartModel } from './chart-model.ts';

/**
 * Positions for the chart model, computed by elkjs (layered algorithm): nothing here places a
 * node by hand. The initial-state marker is a small pseudo-node with an edge into the initial
 * state, so ELK places it too. DOM-free: it runs in the browser and in unit tests.
 */

export const INITIAL_MARKER = '__initial__';

/** Text metrics used for layout; the SVG uses the same font size and a monospace font. */
export const FONT_SIZE = 12;
export const CHAR_WIDTH = 7.3;
export const LINE_HEIGHT = 15;

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PlacedNode extends Box {
  id: string;
}

export interface PlacedLabel extends Box {
  lines: string[];
}

export interface PlacedEdge {
  id: string;
  source: string;
  target: string;
  /** Polyline points from source to target. */
  points: ElkPoint[];
  label: PlacedLabel | undefined;
}

export interface ChartLayout {
  width: number;
  height: number;
  nodes: PlacedNode[];
  edges: PlacedEdge[];
}

export function textBox(lines: readonly string[]): { width: number; height: number } {
  const longest = Math.max(0, ...lines.map((line) => line.length));
  return { width: Math.ceil(longest * CHAR_WIDTH) + 8, height: lines.length * LINE_HEIGHT + 4 };
}

export function stateBox(id: string): { width: number; height: number } {
  return { width: Math.max(120, Math.ceil(id.length * 9.5) + 32), height: 44 };
}

/** The ELK graph for a chart model (exported for tests). */
export function elkGraph(model: ChartModel): ElkNode {
  const children: ElkNode[] = model.nodes.map((node) => ({ id: node.id, ...stateBox(node.id) }));
  children.push({ id: INITIAL_MARKER, width: 14, height: 14 });
  const edges: ElkExtendedEdge[] = model.edges.map((edge) => ({
    id: edge.id,
    sources: [edge.source],
    targets: [edge.target],
    labels: [{ id: `${edge.id}#label`, text: edge.labelLines.join('\n'), ...textBox(edge.labelLines) }],
  }));
  edges.push({
    id: `${INITIAL_MARKER}->${model.initial}`,
    sources: [INITIAL_MARKER],
    targets: [model.initial],
  });
  return {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.padding': '[top=16,left=16,bottom=16,right=16]',
      'elk.spacing.nodeNode': '60',
      'elk.spacing.edgeLabel': '4',
      'elk.spacing.edgeEdge': '14',
      'elk.spacing.edgeNode': '20',
      'elk.layered.spacing.nodeNodeBetweenLayers': '70',
      'elk.layered.spacing.edgeNodeBetweenLayers': '20',
      'elk.layered.spacing.edgeEdgeBetweenLayers': '14',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
    },
    children,
    edges,
  };
}

export async function layoutChart(model: ChartModel, elk: ELK): Promise<ChartLayout> {
  const graph = await elk.layout(elkGraph(model));
  const nodes: PlacedNode[] = (graph.children ?? []).map((child) => ({
    id: child.id,
    x: child.x ?? 0,
    y: child.y ?? 0,
    width: child.width ?? 0,
    height: child.height ?? 0,
  }));
  const edges: PlacedEdge[] = (graph.edges ?? []).map((edge) => {
    const points: ElkPoint[] = [];
    for (const section of edge.sections ?? []) {
      points.push(section.startPoint, ...(section.bendPoints ?? []), section.endPoint);
    }
    const elkLabel = edge.labels?.[0];
    const label: PlacedLabel | undefined =
      elkLabel && elkLabel.text
        ? {
            lines: elkLabel.text.split('\n'),
            x: elkLabel.x ?? 0,
            y: elkLabel.y ?? 0,
            width: elkLabel.width ?? 0,
            height: elkLabel.height ?? 0,
          }
        : undefined;
    return { id: edge.id, source: edge.sources[0] ?? '', target: edge.targets[0] ?? '', points, label };
  });
  return { width: graph.width ?? 0, height: graph.height ?? 0, nodes, edges };
}
