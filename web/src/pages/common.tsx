import type { AppConfig } from '../config';

export interface PageProps {
  config: AppConfig;
}

// Shared by the pages.
export function ConnectFirst({ role }: { role: string }) {
  return (
    <>
      <h1>Connect your wallet</h1>
      <p data-testid="connect-first">
        Connect the wallet that holds your {role} account (the button at the top of the page) to see this page.
      </p>
    </>
  );
}
