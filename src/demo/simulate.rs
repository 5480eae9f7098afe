//! `medledger dev --simulate`: after the story, a small realistic action every few seconds, so that
//! subscriptions, the event trail and live statuses can be watched moving. One log line per action
//! (target `medledger::simulate`).

use super::{
    story::{anchor, dispense, grant, issue, Issued, READ},
    Chain, SeededStory,
};
use anyhow::Result;
use std::{future::Future, time::Duration};
use tracing::{info, warn};

const DAY: u64 = 86_400;

/// The actions, in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Dr. Okafor anchors a telehealth check-in in Maria's episode.
    Anchor,
    /// Dr. Okafor issues James a metformin prescription.
    Issue,
    /// Mission Street Pharmacy dispenses half of it.
    DispenseHalf,
    /// ... and the rest.
    DispenseRest,
    /// Chen Wei (re)grants Dr. Okafor read access for 30 days.
    Grant,
}

const CYCLE: [Action; 5] =
    [Action::Anchor, Action::Issue, Action::DispenseHalf, Action::DispenseRest, Action::Grant];

/// Runs one action every `every` until `stop` resolves. A failed action is logged and the next one tried.
pub async fn simulate(
    chain: &Chain,
    story: &SeededStory,
    every: Duration,
    stop: impl Future<Output = ()>,
) -> Result<()> {
    tokio::pin!(stop);
    let cast = chain.cast();
    let mut open: Option<Issued> = None;
    for step in 0u64.. {
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = tokio::time::sleep(every) => {}
        }
        let action = CYCLE[(step % CYCLE.len() as u64) as usize];
        let outcome: Result<()> = async {
            match action {
                Action::Anchor => {
                    let index =
                        anchor(chain, &cast.okafor, story.episode_id, "encounters/05-telehealth-check-in.json").await?;
                    info!(target: "medledger::simulate", step, action = "anchor", episode_id = story.episode_id,
                        index, author = %cast.okafor.address(), "simulated action");
                }
                Action::Issue => {
                    let rx = issue(chain, "prescriptions/metformin.json", None).await?;
                    info!(target: "medledger::simulate", step, action = "issue", rx_id = %rx.rx_id,
                        patient = %rx.terms.patient, prescriber = %rx.terms.prescriber, "simulated action");
                    open = Some(rx);
                }
                Action::DispenseHalf | Action::DispenseRest => {
                    let Some(rx) = &open else { return Ok(()) };
                    let half = rx.terms.quantityPerFill / 2;
                    let quantity =
                        if action == Action::DispenseHalf { half } else { rx.terms.quantityPerFill - half };
                    dispense(chain, &cast.mission, rx.rx_id, quantity).await?;
                    info!(target: "medledger::simulate", step, action = "dispense", rx_id = %rx.rx_id,
                        pharmacy = %cast.mission.address(), quantity, "simulated action");
                    if action == Action::DispenseRest {
                        open = None;
                    }
                }
                Action::Grant => {
                    let expires_at = chain.now().await? + 30 * DAY;
                    grant(chain, &cast.chen, &cast.okafor, READ, expires_at).await?;
                    info!(target: "medledger::simulate", step, action = "grant", patient = %cast.chen.address(),
                        grantee = %cast.okafor.address(), scopes = READ, expires_at, "simulated action");
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            warn!(target: "medledger::simulate", step, action = ?action, error = format!("{e:#}"),
                "simulated action failed");
        }
    }
    Ok(())
}
