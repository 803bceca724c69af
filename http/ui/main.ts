import ElkBundled from 'elkjs/lib/elk.bundled.js';
import { api, ApiError, UnreachableError } from './api.ts';
import { agentLook } from './agent-look.ts';
import type { JournalEntry, VipView } from './api.ts';
import { chartModel, edgeId, edgeOf, type ChartModel } from './chart-model.ts';
import { layoutChart } from './layout.ts';
import { mergeHosts, type ShownHost } from './hosts.ts';
import { highlight, renderChart } from './render.ts';
import {
  cursorForKey,
  isStep,
  normalise,
  replayCaption,
  stepBack,
  stepForward,
  viewAt,
  type Cursor,
} from './timeline.ts';

/**
 * The visualiser page: VIP list, the state chart (from GET /machine, laid out by elkjs), the live
 * highlight (SSE from /ips/:id/events), the cluster view and time travel over the journal
 * (replayed through the real machine, see timeline.ts). Plain DOM; all text via textContent.
 */

const POLL_MS = 2000;

// elk.bundled.js is CommonJS (module.exports = the constructor) with an ES-style `export default`
// in its typings: under NodeNext TypeScript sees the namespace, esbuild and Node give the class.
const ELK = ((ElkBundled as { default?: unknown }).default ?? ElkBundled) as typeof ElkBundled.default;

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`visualiser: #${id} is missing from the page`);
  return element as T;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { className?: string; text?: string; attrs?: Record<string, string> } = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props.className) element.className = props.className;
  if (props.text !== undefined) element.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

function badge(state: string): HTMLSpanElement {
  return el('span', { className: 'badge', text: state, attrs: { 'data-state': state } });
}

function clock(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function describe(entry: JournalEntry): { what: string; meta: string } {
  switch (entry.kind) {
    case 'start':
      return { what: `start → ${entry.state}`, meta: `actor started · fault policy ${entry.faultPolicy}` };
    case 'event':
      return {
        what: `${entry.event}: ${entry.from} → ${entry.to}`,
        meta: `from ${entry.source}${entry.reason ? ` · ${entry.reason}` : ''}`,
      };
    case 'note':
      return { what: `${entry.level}: ${entry.code}`, meta: entry.message };
  }
}

const dom = {
  agent: byId<HTMLParagraphElement>('agent'),
  host: byId<HTMLSpanElement>('host'),
  drained: byId<HTMLSpanElement>('drained'),
  agentText: byId<HTMLSpanElement>('agent-text'),
  banner: byId<HTMLDivElement>('banner'),
  vipList: byId<HTMLUListElement>('vip-list'),
  vipEmpty: byId<HTMLParagraphElement>('vip-empty'),
  chart: byId<HTMLDivElement>('chart'),
  chartVip: byId<HTMLSpanElement>('chart-vip'),
  caption: byId<HTMLParagraphElement>('chart-caption'),
  hostList: byId<HTMLUListElement>('host-list'),
  clusterEmpty: byId<HTMLParagraphElement>('cluster-empty'),
  back: byId<HTMLButtonElement>('back'),
  forward: byId<HTMLButtonElement>('forward'),
  live: byId<HTMLButtonElement>('live'),
  position: byId<HTMLParagraphElement>('position'),
  journal: byId<HTMLOListElement>('journal'),
  journalEmpty: byId<HTMLParagraphElement>('journal-empty'),
  timeline: byId<HTMLElement>('timeline'),
};

interface PageState {
  model: ChartModel | null;
  svg: SVGSVGElement | null;
  vips: VipView[] | null;
  selected: string | null;
  entries: JournalEntry[];
  cursor: Cursor;
  hosts: ShownHost[] | null;
  /** The agent's HOSTNAME (GET /version), once known. */
  hostname: string | null;
  hostsError: string | null;
  source: EventSource | null;
  streamOpen: boolean;
  problem: { kind: 'error' | 'warn'; text: string } | null;
  chartProblem: string | null;
}

const page: PageState = {
  model: null,
  svg: null,
  vips: null,
  selected: null,
  entries: [],
  cursor: null,
  hosts: null,
  hostname: null,
  hostsError: null,
  source: null,
  streamOpen: false,
  problem: null,
  chartProblem: null,
};

// Journal rows by seq, so new entries are appended without redrawing the list.
const rows = new Map<number, HTMLElement>();

function selectedVip(): VipView | undefined {
  return page.vips?.find((vip) => vip.id === page.selected);
}

function showBanner(): void {
  const problem =
    page.problem ?? (page.chartProblem ? { kind: 'error' as const, text: page.chartProblem } : null);
  dom.banner.hidden = problem === null;
  dom.banner.textContent = problem?.text ?? '';
  if (problem) dom.banner.dataset['kind'] = problem.kind;
}

// VIP buttons by id: updated in place so a focused button keeps the focus across refreshes.
const vipButtons = new Map<string, HTMLButtonElement>();

function renderVips(): void {
  const vips = page.vips ?? [];
  dom.vipEmpty.hidden = page.vips === null || vips.length > 0;
  const ids = vips.map((vip) => vip.id);
  if (ids.join(' ') !== [...vipButtons.keys()].join(' ')) {
    vipButtons.clear();
    dom.vipList.replaceChildren(
      ...vips.map((vip) => {
        const button = el('button', { attrs: { type: 'button', 'data-vip': vip.id, title: vip.id } });
        button.addEventListener('click', () => select(vip.id));
        vipButtons.set(vip.id, button);
        return el('li', {}, button);
      }),
    );
  }
  for (const vip of vips) {
    const button = vipButtons.get(vip.id);
    if (!button) continue;
    const live = vip.id === page.selected ? viewAt(page.entries, null).state : null;
    const state = live ?? vip.status;
    button.setAttribute('aria-pressed', String(vip.id === page.selected));
    button.replaceChildren(el('span', { className: 'vip-ip mono', text: vip.ip }), badge(state));
    // VipView.owner is "its actor is ACTIVATED"; the live journal is fresher than the poll.
    if (state === 'ACTIVATED') {
      button.append(
        el('span', { className: 'badge owner', text: 'owner', attrs: { title: 'this host holds it' } }),
      );
    }
  }
}

function renderHosts(): void {
  const hosts = page.hosts;
  dom.hostList.replaceChildren();
  if (!page.selected) {
    dom.clusterEmpty.hidden = false;
    dom.clusterEmpty.textContent = 'Choose a VIP to see the hosts that carry it.';
    return;
  }
  if (page.hostsError) {
    dom.clusterEmpty.hidden = false;
    dom.clusterEmpty.textContent = `Hosts unknown: ${page.hostsError}`;
    return;
  }
  if (!hosts || hosts.length === 0) {
    dom.clusterEmpty.hidden = false;
    dom.clusterEmpty.textContent = hosts
      ? 'No host is a candidate for this VIP right now.'
      : 'Loading hosts…';
    return;
  }
  dom.clusterEmpty.hidden = true;
  for (const host of hosts) {
    const row = el(
      'li',
      {
        className: host.up ? '' : 'down',
        attrs: { 'data-host': host.hostname, 'data-owner': String(host.owner), 'data-up': String(host.up) },
      },
      el('span', { className: 'host-name mono', text: host.hostname }),
    );
    if (host.hostname === page.hostname) row.append(el('span', { className: 'muted', text: 'this host' }));
    row.append(
      !host.up
        ? el('span', {
            className: 'badge down',
            text: 'down',
            attrs: { title: 'no longer carries this VIP: stopped, gone, failing its checks or deleted it' },
          })
        : host.owner
          ? el('span', { className: 'badge owner', text: 'owner' })
          : el('span', { className: 'badge gone', text: 'candidate' }),
    );
    dom.hostList.append(row);
  }
}

function journalRow(entry: JournalEntry): HTMLElement {
  const { what, meta } = describe(entry);
  const parts = [
    el('span', { className: 'seq mono', text: `#${entry.seq}` }),
    el('span', { className: 'what', text: what }),
    el('span', { className: 'meta', text: `${clock(entry.time)} · ${meta}` }),
  ];
  if (!isStep(entry)) {
    return el(
      'div',
      { className: 'note', attrs: { 'data-level': entry.kind === 'note' ? entry.level : '' } },
      ...parts,
    );
  }
  const button = el('button', { attrs: { type: 'button', 'data-seq': String(entry.seq) } }, ...parts);
  button.addEventListener('click', () => setCursor(normalise(page.entries, entry.seq)));
  return button;
}

function appendJournal(entries: readonly JournalEntry[]): void {
  for (const entry of entries) {
    const row = journalRow(entry);
    rows.set(entry.seq, row);
    dom.journal.append(el('li', {}, row));
  }
}

/** Brings a row into the journal's own scroll box; never scrolls the page (live entries would jump it). */
function scrollJournalTo(row: HTMLElement): void {
  const box = dom.journal.getBoundingClientRect();
  const at = row.getBoundingClientRect();
  if (at.top < box.top) dom.journal.scrollTop -= box.top - at.top;
  else if (at.bottom > box.bottom) dom.journal.scrollTop += at.bottom - box.bottom;
}

/**
 * On a narrow screen the chart is wider than its box (it keeps a readable size and scrolls
 * sideways): bring the highlighted state to the middle, so a phone shows where the VIP is.
 */
function scrollChartTo(state: string): void {
  if (dom.chart.scrollWidth <= dom.chart.clientWidth) return;
  const group = page.svg?.querySelector(`g.state[data-state="${CSS.escape(state)}"]`);
  if (!group) return;
  const box = dom.chart.getBoundingClientRect();
  const at = group.getBoundingClientRect();
  dom.chart.scrollLeft += at.left + at.width / 2 - (box.left + box.width / 2);
}

/** Everything that depends on the cursor: highlight, caption, controls, current row. */
function renderCursor(): void {
  const view = viewAt(page.entries, page.cursor);
  const replaying = view.cursor !== null;
  const vip = selectedVip();
  const state = view.state ?? vip?.status ?? null;
  const entry = view.entry;
  const taken =
    entry?.kind === 'event' && page.model
      ? (edgeOf(page.model, entry.from, entry.event, entry.to)?.id ?? edgeId(entry.from, entry.to))
      : undefined;
  if (page.svg) {
    highlight(page.svg, page.selected ? state : null, page.selected ? taken : undefined, replaying);
    if (page.selected && state) scrollChartTo(state);
  }

  dom.chartVip.textContent = vip ? `· ${vip.ip}` : '';
  dom.caption.dataset['replay'] = String(replaying);
  if (!page.selected) {
    dom.caption.textContent = page.vips?.length ? 'Choose a VIP to highlight its state.' : '';
  } else if (replaying && entry) {
    dom.caption.textContent = replayCaption(view, clock(entry.time));
  } else {
    const where = state === 'ACTIVATED' ? 'this host holds it' : 'this host does not hold it';
    dom.caption.textContent = `Live: ${vip?.ip ?? page.selected} is ${state ?? '…'} (${where})${page.streamOpen ? '' : ' · reconnecting…'}`;
  }

  const hasSteps = view.steps > 0;
  dom.back.disabled = !page.selected || !hasSteps || (replaying && view.position <= 1) || view.steps < 2;
  dom.forward.disabled = !replaying;
  dom.live.disabled = !page.selected;
  dom.live.setAttribute('aria-pressed', String(!replaying && page.selected !== null));
  dom.position.textContent = !page.selected
    ? ''
    : hasSteps
      ? replaying
        ? `Step ${view.position} of ${view.steps} · ← → to step, Live (End) to return`
        : `Live · ${view.steps} step${view.steps === 1 ? '' : 's'} · ← to step back`
      : 'No journal entries yet.';
  dom.journalEmpty.hidden = page.entries.length > 0;
  if (!page.selected) dom.journalEmpty.textContent = 'Choose a VIP to see its journal.';
  else if (page.entries.length === 0) dom.journalEmpty.textContent = 'Waiting for the journal…';

  const currentSeq = entry?.seq;
  for (const [seq, row] of rows) {
    if (!(row instanceof HTMLButtonElement)) continue;
    const current = seq === currentSeq;
    if (current) row.setAttribute('aria-current', 'step');
    else row.removeAttribute('aria-current');
    row.classList.toggle('live', current && !replaying);
    if (current) scrollJournalTo(row);
  }
}

function setCursor(cursor: Cursor): void {
  page.cursor = normalise(page.entries, cursor);
  renderCursor();
}

function closeStream(): void {
  page.source?.close();
  page.source = null;
  page.streamOpen = false;
}

function openStream(id: string): void {
  closeStream();
  const source = new EventSource(api.eventsUrl(id));
  page.source = source;
  source.addEventListener('open', () => {
    page.streamOpen = true;
    renderCursor();
  });
  source.addEventListener('journal', (message: MessageEvent<string>) => {
    if (page.source !== source) return;
    let entry: JournalEntry;
    try {
      entry = JSON.parse(message.data) as JournalEntry;
    } catch {
      return;
    }
    // On reconnect the agent resends from Last-Event-ID; a reopened stream resends everything.
    const last = page.entries.at(-1);
    if (last && entry.seq <= last.seq) return;
    page.entries.push(entry);
    appendJournal([entry]);
    scheduleRender(entry.kind === 'event');
  });
  source.addEventListener('error', () => {
    if (page.source !== source) return;
    page.streamOpen = false;
    // CLOSED: the agent answered with an error (VIP gone, auth); the poll loop reopens it.
    if (source.readyState === EventSource.CLOSED) page.source = null;
    renderCursor();
  });
}

let renderQueued = false;
let hostsDue = false;
/** Entries arrive in bursts (the history first): render once per frame. */
function scheduleRender(hostsMayHaveChanged: boolean): void {
  hostsDue ||= hostsMayHaveChanged;
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderCursor();
    renderVips();
    if (hostsDue) {
      hostsDue = false;
      void refreshHosts();
    }
  });
}

function select(id: string | null): void {
  if (id === page.selected) return;
  page.selected = id;
  page.entries = [];
  page.cursor = null;
  page.hosts = null;
  page.hostsError = null;
  rows.clear();
  dom.journal.replaceChildren();
  if (id) {
    if (location.hash !== `#${id}`) history.replaceState(null, '', `#${id}`);
    openStream(id);
    void refreshHosts();
  } else {
    closeStream();
  }
  renderVips();
  renderHosts();
  renderCursor();
}

function describeError(err: unknown): string {
  if (err instanceof UnreachableError) return 'the agent does not answer';
  if (err instanceof ApiError) return `${err.message} (HTTP ${err.status})`;
  return err instanceof Error ? err.message : String(err);
}

async function refreshHosts(): Promise<void> {
  const id = page.selected;
  if (!id) return;
  try {
    const hosts = await api.hosts(id);
    if (page.selected !== id) return;
    page.hosts = mergeHosts(page.hosts ?? [], hosts);
    page.hostsError = null;
  } catch (err: unknown) {
    if (page.selected !== id) return;
    page.hostsError = describeError(err);
  }
  renderHosts();
}

function showHostname(hostname: string): void {
  page.hostname = hostname;
  dom.host.textContent = hostname;
  dom.host.title = `the agent at ${location.host}`;
  document.title = `LinK · ${hostname} · visualiser`;
}

async function refresh(): Promise<void> {
  try {
    const health = await api.health();
    const { healthy, drained, badge } = agentLook(health);
    dom.agent.dataset['health'] = healthy ? 'ok' : 'unhealthy';
    dom.agentText.textContent = `${location.host} · ${healthy ? 'healthy' : 'unhealthy'}${drained ? ' · drained' : ''} · etcd ${health.etcd ?? '?'}`;
    dom.drained.hidden = !drained;
    dom.drained.title = badge;
    if (page.hostname === null) {
      const { hostname } = await api.version();
      if (hostname) showHostname(hostname);
    }
    page.problem = healthy
      ? null
      : {
          kind: 'warn',
          text: `The agent is unhealthy: ${health.error ?? health.reasons?.join('; ') ?? 'unknown reason'}. VIP states below are what this agent believes; etcd decides ownership once it is back.`,
        };
    page.vips = await api.ips();
  } catch (err: unknown) {
    if (err instanceof ApiError && err.status === 401) {
      page.problem = { kind: 'error', text: 'Not authorised: reload the page and log in again.' };
    } else {
      dom.agent.dataset['health'] = 'unreachable';
      dom.agentText.textContent = `${location.host} · unreachable`;
      page.problem = {
        kind: 'error',
        text: `Cannot reach the agent at ${location.host}: ${describeError(err)}. Retrying every ${POLL_MS / 1000} s; what you see is the last known state.`,
      };
    }
    showBanner();
    return;
  }
  showBanner();
  const vips = page.vips;
  if (page.selected && !vips.some((vip) => vip.id === page.selected)) select(null);
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (!page.selected && vips.length > 0) select(vips.find((vip) => vip.id === wanted)?.id ?? vips[0]!.id);
  else if (page.selected && !page.source) openStream(page.selected);
  renderVips();
  renderCursor();
  await refreshHosts();
}

async function poll(): Promise<void> {
  await refresh();
  setTimeout(() => void poll(), POLL_MS);
}

async function drawChart(): Promise<void> {
  try {
    const { machine } = await api.machine();
    const model = chartModel(machine);
    const layout = await layoutChart(model, new ELK());
    page.model = model;
    page.svg = renderChart(model, layout);
    dom.chart.replaceChildren(page.svg);
    page.chartProblem = null;
    renderCursor();
  } catch (err: unknown) {
    page.chartProblem = `The state chart could not be drawn: ${describeError(err)}. Reload to retry.`;
    dom.chart.replaceChildren(el('p', { className: 'muted', text: 'No chart.' }));
    showBanner();
  }
}

function onKey(event: KeyboardEvent): void {
  if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey || !page.selected) return;
  const target = event.target;
  if (
    target instanceof HTMLInputElement ||
    target instanceof HTMLTextAreaElement ||
    target instanceof HTMLSelectElement
  )
    return;
  // Home/End keep scrolling the page unless the timeline has the focus.
  if ((event.key === 'Home' || event.key === 'End') && !dom.timeline.contains(document.activeElement)) return;
  const cursor = cursorForKey(page.entries, page.cursor, event.key);
  if (cursor === undefined) return;
  event.preventDefault();
  setCursor(cursor);
}

dom.back.addEventListener('click', () => setCursor(stepBack(page.entries, page.cursor)));
dom.forward.addEventListener('click', () => setCursor(stepForward(page.entries, page.cursor)));
dom.live.addEventListener('click', () => setCursor(null));
document.addEventListener('keydown', onKey);
window.addEventListener('hashchange', () => {
  const id = decodeURIComponent(location.hash.slice(1));
  if (id && page.vips?.some((vip) => vip.id === id)) select(id);
});
window.addEventListener('pagehide', closeStream);
// A rotated phone or a resized window: the highlighted state back in the chart's box.
window.addEventListener('resize', () => renderCursor());

renderCursor();
void drawChart();
void poll();
