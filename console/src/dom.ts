/**
 * Building the page without HTML strings: every text goes in as a text node, so nothing an API
 * answer holds can become markup or script. No `innerHTML`, no inline styles or handlers, which
 * the console's Content-Security-Policy would refuse anyway.
 */

/** A child of `el`: nodes as they are, text as text, nothing for null, undefined and false. */
export type Child = Node | string | number | null | undefined | false;

/** Listeners of `el`. */
export type Listeners = {
  readonly [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void;
};

/**
 * Creates an element. Boolean attributes are set when true; `class` and `for` go in as they are.
 *
 * @example
 * el('button', { type: 'button' }, { click: () => refresh() }, 'Refresh')
 */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number | boolean | undefined> = {},
  listeners: Listeners = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name === 'style' || name.startsWith('on')) throw new Error(`attribute \`${name}\` is not allowed`);
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const [type, listener] of Object.entries(listeners)) {
    node.addEventListener(type, listener as EventListener);
  }
  node.append(...toNodes(children));
  return node;
}

/** `el` without attributes or listeners. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  return el(tag, {}, {}, ...children);
}

function toNodes(children: readonly Child[]): Node[] {
  return children.flatMap((c) =>
    c === null || c === undefined || c === false
      ? []
      : [typeof c === 'object' ? c : document.createTextNode(String(c))],
  );
}

/** Replaces an element's children. */
export function replace(node: Element, ...children: Child[]): void {
  node.replaceChildren(...toNodes(children));
}

/** A table with a header row; `rows` holds cells (a `td` as it is, anything else wrapped in one). */
export function table(
  caption: string | null,
  headers: readonly string[],
  rows: readonly (readonly (Child | HTMLTableCellElement)[])[],
  attributes: Record<string, string> = {},
): HTMLTableElement {
  return el(
    'table',
    attributes,
    {},
    caption === null ? null : h('caption', caption),
    h('thead', h('tr', ...headers.map((name) => el('th', { scope: 'col' }, {}, name)))),
    h(
      'tbody',
      ...rows.map((cells) =>
        h('tr', ...cells.map((c) => (c instanceof HTMLTableCellElement ? c : h('td', c)))),
      ),
    ),
  );
}

/** A time as the user's locale writes it, with the ISO string as its machine-readable value. */
export function time(iso: string | null | undefined): Child {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return el('time', { datetime: iso, title: iso }, {}, date.toLocaleString());
}
