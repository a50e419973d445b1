/**
 * The Domicile console: a page over the public HTTP API of the same origin. The token comes
 * first (the demo link's fragment is moved into the session before anything else runs), then
 * the navigation between views. Nothing here writes to the browser console, and the title and
 * address never change with what is shown.
 */
import './style.css';
import { el, h, replace, time } from './dom.js';
import { adoptTokenFromFragment, forgetToken, readClaims, readToken, storeToken } from './session.js';
import { accessView } from './views/access.js';
import { logsView } from './views/logs.js';
import { overviewView } from './views/overview.js';
import { subjectView } from './views/subject.js';

adoptTokenFromFragment(window.location, window.history);

const VIEWS = {
  overview: { label: 'Overview', render: overviewView },
  subject: { label: 'Subject', render: subjectView },
  logs: { label: 'Logs', render: logsView },
  access: { label: 'Access requests', render: accessView },
} as const;
type ViewId = keyof typeof VIEWS;

const VIEW_KEY = 'domicile.console.view';
const isViewId = (v: string | null): v is ViewId => v !== null && Object.hasOwn(VIEWS, v);

const main = el('main', { id: 'view' });
const nav = el('nav', { 'aria-label': 'Views' });
const tokenPanel = el('div', { class: 'token' });
let current: ViewId = isViewId(sessionStorage.getItem(VIEW_KEY))
  ? (sessionStorage.getItem(VIEW_KEY) as ViewId)
  : 'overview';

function show(view: ViewId): void {
  current = view;
  sessionStorage.setItem(VIEW_KEY, view);
  replace(
    nav,
    ...Object.entries(VIEWS).map(([id, v]) =>
      el(
        'button',
        { type: 'button', 'aria-current': id === view ? 'page' : undefined },
        { click: () => show(id as ViewId) },
        v.label,
      ),
    ),
  );
  replace(main, VIEWS[view].render());
}

function renderToken(): void {
  const token = readToken();
  if (token !== null) {
    const c = readClaims(token);
    const about = [c.type, c.dept, c.loc].filter(Boolean).join(', ');
    replace(
      tokenPanel,
      el(
        'p',
        { class: 'signed-in' },
        {},
        c.sub === undefined ? 'A token without readable claims' : h('span', 'Token of ', h('strong', c.sub)),
        about === '' ? '' : ` (${about})`,
        c.exp === undefined ? '' : h('span', ', expires ', time(new Date(c.exp * 1000).toISOString())),
        ' ',
        el(
          'button',
          { type: 'button', class: 'secondary' },
          {
            click: () => {
              forgetToken();
              renderToken();
              show(current);
            },
          },
          'Forget token',
        ),
      ),
    );
    return;
  }
  const input = el('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    placeholder: 'eyJ…',
  });
  replace(
    tokenPanel,
    el(
      'form',
      { 'aria-label': 'Sign in with a bearer token' },
      {
        submit: (event) => {
          event.preventDefault();
          if (input.value.trim() === '') return;
          storeToken(input.value);
          renderToken();
          show(current);
        },
      },
      el('label', { for: 'token' }, {}, 'Bearer token'),
      input,
      el('button', { type: 'submit' }, {}, 'Use token'),
      el(
        'span',
        { class: 'muted' },
        {},
        'kept in this tab only; ',
        h('code', 'domicile token'),
        ' prints one',
      ),
    ),
  );
}

document.body.replaceChildren(
  el('header', {}, {}, h('h1', 'Domicile'), nav, tokenPanel),
  main,
  el(
    'footer',
    {},
    {},
    'Talks to this server’s public API (',
    el('a', { href: '/openapi.json' }, {}, 'OpenAPI'),
    ').',
  ),
);
renderToken();
show(current);
