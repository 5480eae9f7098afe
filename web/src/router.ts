// The path as a signal: links push history entries, the back button pops them.
import { signal } from '@preact/signals';

const here = () => location.pathname.replace(/\/+$/, '') || '/';

export const path = signal(here());

export function navigate(to: string) {
  if (to === path.value) return;
  history.pushState(null, '', to);
  path.value = to;
  document.getElementById('main')?.focus();
}

window.addEventListener('popstate', () => {
  path.value = here();
});
