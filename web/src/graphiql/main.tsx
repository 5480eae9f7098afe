/** @jsxImportSource react */
// GraphiQL served by medledger itself (bundled from npm: the page loads nothing from another host).
// Queries go over fetch, subscriptions over the app's own graphql-transport-ws client.
import { GraphiQL } from 'graphiql';
import { createRoot } from 'react-dom/client';
import { buildSchema, parse, type OperationDefinitionNode } from 'graphql';
import 'graphiql/graphiql.css';
import './page.css';
// The API's SDL, committed beside it: GraphiQL needs no introspection (whose query is deeper than the
// API's depth limit).
import sdl from '../../../graphql/schema.graphql';
import { subscribe } from '../gql';


type Params = { query: string; variables?: Record<string, unknown> | null; operationName?: string | null };

function isSubscription(params: Params): boolean {
  try {
    const doc = parse(params.query);
    const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
    const op = params.operationName ? ops.find((o) => o.name?.value === params.operationName) : ops[0];
    return op?.operation === 'subscription';
  } catch {
    return false;
  }
}

async function post(params: Params) {
  const r = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(params),
  });
  return r.json();
}

function live(params: Params): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator]() {
      const queue: unknown[] = [];
      let wake: (() => void) | null = null;
      let done = false;
      const stop = subscribe(params.query, params.variables ?? {}, {
        next: (data) => {
          queue.push({ data });
          wake?.();
        },
        error: (message) => {
          queue.push({ errors: [{ message }] });
          done = true;
          wake?.();
        },
      });
      return {
        async next() {
          while (!queue.length && !done) await new Promise<void>((r) => (wake = r));
          if (queue.length) return { value: queue.shift(), done: false };
          return { value: undefined, done: true };
        },
        async return() {
          done = true;
          stop();
          return { value: undefined, done: true };
        },
      };
    },
  };
}

const fetcher = (params: Params) => (isSubscription(params) ? live(params) : post(params));

const DEFAULT = `# medledger's GraphQL API. Ctrl-Enter runs the query; the docs are behind the book icon.
query Status {
  indexerStatus { chainId indexedBlock chainHead lag }
}
`;

createRoot(document.getElementById('root')!).render(
  <GraphiQL fetcher={fetcher as never} schema={buildSchema(sdl)} defaultQuery={DEFAULT} />,
);
