// Hiding a record from grantees (RecordAnchors.setRecordHidden, the patient only): one button, used by the
// on-chain records list and by the documents list.
import type { AppConfig } from '../config';
import { send, type TxState } from '../tx';
import { busy } from '../ui';

export function HideButton({
  config,
  episode,
  index,
  hidden,
  tx,
  setTx,
  what,
}: {
  config: AppConfig;
  episode: number;
  index: number;
  hidden: boolean;
  tx: TxState;
  setTx: (s: TxState) => void;
  /** How the record is named to screen readers, e.g. "record 0 of episode 1". */
  what: string;
}) {
  const verb = hidden ? 'Show' : 'Hide';
  return (
    <button
      type="button"
      disabled={busy(tx)}
      aria-label={`${verb} ${what}`}
      onClick={() => send(config, 'RecordAnchors', 'setRecordHidden', [BigInt(episode), index, !hidden], setTx, `${verb} record ${index}`)}
    >
      {verb}
    </button>
  );
}
