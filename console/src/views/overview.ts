/**
 * Overview: is every region up, who serves each jurisdiction now (home, failover, or nobody:
 * then requests fail closed with 503), and what share of each jurisdiction's requests its home
 * region served.
 */
import { type Child, el, h, table } from '../dom.js';
import { type JurisdictionReadiness, readReadiness } from '../readiness.js';
import { homeShareSinceStart, type JurisdictionRouting, percent, readRouting } from '../routing.js';
import { button, errorBox, heading, loader } from '../ui.js';

function share(value: number | null): Child {
  if (value === null) return el('span', { class: 'muted' }, {}, 'no requests yet');
  return el(
    'span',
    { class: 'share' },
    {},
    el('meter', { min: 0, max: 1, low: 0.99, optimum: 1, value }, {}, percent(value)),
    ' ',
    percent(value),
  );
}

function servedBy(j: JurisdictionReadiness): HTMLTableCellElement {
  if (j.servedBy === null) {
    return el('td', { class: 'bad' }, {}, 'nobody: requests fail closed (503)');
  }
  return el('td', { class: j.status === 'home' ? 'good' : 'warn' }, {}, `${j.servedBy} (${j.status})`);
}

async function load(): Promise<Child> {
  const readiness = await readReadiness();
  let routing = new Map<string, JurisdictionRouting>();
  let routingError: HTMLElement | null = null;
  try {
    routing = await readRouting();
  } catch (error) {
    routingError = errorBox(error);
  }
  const regions = Object.entries(readiness.regions).sort(([a], [b]) => a.localeCompare(b));
  const down = regions.filter(([, s]) => s !== 'up').length;
  const roles = (region: string): string =>
    Object.entries(readiness.jurisdictions)
      .flatMap(([id, j]) => [
        ...(j.home === region ? [`home of ${id}`] : []),
        ...(j.home !== region && j.serving.includes(region) ? [`failover of ${id}`] : []),
        ...(j.draining.includes(region) ? [`draining for ${id}`] : []),
      ])
      .join(', ') || '—';
  return h(
    'div',
    el(
      'p',
      { class: `summary ${down === 0 ? 'good' : 'bad'}` },
      {},
      down === 0 ? `All ${regions.length} regions are up.` : `${down} of ${regions.length} regions are down.`,
    ),
    table(
      'Jurisdictions',
      [
        'Jurisdiction',
        'Served by',
        'Routing order',
        'Requests',
        'Home share (recent)',
        'Home share (since start)',
      ],
      Object.entries(readiness.jurisdictions)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([id, j]) => {
          const r = routing.get(id);
          return [
            el('td', { 'data-jurisdiction': id }, {}, id),
            servedBy(j),
            j.serving.join(' → ') + (j.draining.length > 0 ? ` (draining: ${j.draining.join(', ')})` : ''),
            r?.total ?? 0,
            share(r?.recentHomeShare ?? null),
            share(homeShareSinceStart(r)),
          ];
        }),
      { class: 'jurisdictions' },
    ),
    routingError,
    table(
      'Regions',
      ['Region', 'Status', 'Role'],
      regions.map(([id, s]) => [
        el('td', { 'data-region': id }, {}, id),
        el('td', { class: s === 'up' ? 'good' : 'bad' }, {}, s),
        roles(id),
      ]),
      { class: 'regions' },
    ),
  );
}

/** The overview view. */
export function overviewView(): HTMLElement {
  const content = loader('Readiness and routing', load);
  void content.reload();
  return h('section', heading('Overview', button('Refresh', content.reload)), content.node);
}
