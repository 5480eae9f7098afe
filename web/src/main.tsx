// The app: loads /config.json, discovers wallets, and routes by path to one lazily loaded page per role.
import { render, type ComponentType } from 'preact';
import { signal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { loadConfig, type AppConfig } from './config';
import { navigate, path } from './router';
import { WalletPanel } from './walletpanel';
import { discover } from './wallet';
import './style.css';

import type { PageProps } from './pages/common';

const pages: Record<string, { title: string; load: () => Promise<{ default: ComponentType<PageProps> }> }> = {
  '/': { title: 'medledger', load: () => import('./pages/landing') },
  '/patient': { title: 'Patient · medledger', load: () => import('./pages/patient') },
  '/doctor': { title: 'Doctor · medledger', load: () => import('./pages/doctor') },
  '/registrar': { title: 'Registrar · medledger', load: () => import('./pages/registrar') },
  '/doctor/prescribe': { title: 'Write a prescription · medledger', load: () => import('./pages/prescribe') },
  '/pharmacy': { title: 'Pharmacy · medledger', load: () => import('./pages/pharmacy') },
};

const Page = signal<ComponentType<PageProps> | null>(null);
const pageError = signal<string | null>(null);


function NavLink({ to, children }: { to: string; children: string }) {
  const current = path.value === to;
  return (
    <a
      href={to}
      aria-current={current ? 'page' : undefined}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

function App({ config }: { config: AppConfig }) {
  const route = pages[path.value];
  useEffect(() => {
    Page.value = null;
    pageError.value = null;
    if (!route) return;
    document.title = route.title;
    let live = true;
    route.load().then(
      (m) => {
        if (live) Page.value = m.default;
      },
      (e: unknown) => {
        if (live) pageError.value = `This page failed to load: ${String(e)}`;
      },
    );
    return () => {
      live = false;
    };
  }, [path.value]);
  const P = Page.value;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <nav aria-label="Roles">
          <NavLink to="/">medledger</NavLink>
          <NavLink to="/patient">Patient</NavLink>
          <NavLink to="/doctor">Doctor</NavLink>
          <NavLink to="/pharmacy">Pharmacy</NavLink>
          <NavLink to="/registrar">Registrar</NavLink>
          <a href="/graphql">GraphiQL</a>
        </nav>
        <WalletPanel config={config} />
      </header>
      <main id="main" tabIndex={-1}>
        {!route ? (
          <p role="alert">
            No page at {path.value}. <NavLink to="/">Back to the start</NavLink>
          </p>
        ) : pageError.value ? (
          <p role="alert">{pageError.value}</p>
        ) : P ? (
          <P config={config} />
        ) : (
          <p aria-busy="true">Loading…</p>
        )}
      </main>
    </>
  );
}

const root = document.getElementById('root')!;
loadConfig().then(
  (config) => {
    discover(config);
    render(<App config={config} />, root);
  },
  (e: unknown) => {
    root.textContent = `medledger cannot start: ${e instanceof Error ? e.message : String(e)}`;
  },
);
