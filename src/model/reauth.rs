//! Manual re-authorization: after a token family is revoked, a person notices and re-authorizes
//! the app for that org. Until then every call for the org fails with 401.

use super::trace::TraceKind;
use super::world::{Ev, Sim};
use super::{AccessToken, RefreshToken};
use crate::engine::{Dist, Scheduler, SimDuration};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReauthConfig {
    /// Time from the revocation to the new authorization: detection plus repair. No vendor
    /// publishes this; the default of 30 minutes is an assumption (an on-call page and a
    /// person logging in), to be replaced by a team's own figure.
    pub delay: Dist,
}

impl Default for ReauthConfig {
    fn default() -> Self {
        ReauthConfig { delay: Dist::constant(SimDuration::from_secs(30 * 60)) }
    }
}

impl Sim {
    pub(crate) fn reauth_delay(&mut self, org: u16) -> SimDuration {
        let rng = self.org_rngs[org as usize];
        self.model.orgs[org as usize].manual_reauth.delay.sample(&mut self.rngs[rng])
    }

    /// A person re-authorizes: a new family epoch, a fresh token pair in the cache.
    pub(crate) fn manual_reauth(&mut self, family: u32, s: &mut Scheduler<Ev>) {
        let now = s.now();
        let fam = &mut self.families[family as usize];
        let Some(revoked_at) = fam.revoked_at.take().or(fam.stranded_at.take()) else { return };
        fam.epoch += 1;
        fam.generation = 0;
        fam.rotated_at = None;
        let (org, session, endpoint, epoch) = (fam.org, fam.session, fam.endpoint, fam.epoch);
        let ttl = self.access_ttl(endpoint);
        let c = &mut self.caches[family as usize];
        c.refresh = RefreshToken { family, epoch, generation: 0 };
        c.access = AccessToken { family, epoch, generation: 0, expires_at: now + ttl };
        c.reauth_required = false;
        self.metrics.manual_reauths += 1;
        let secs = now.since(revoked_at).as_secs_f64();
        self.metrics.orgs[org as usize].revoked_seconds += secs;
        self.trace_raw(now, TraceKind::ManualReauth, endpoint, org, session, None, "re-authorized by a person");
        let fam = &mut self.families[family as usize];
        let parent = fam.revoked_node;
        fam.revoked_node = super::causes::NONE;
        fam.unauthorized_node = super::causes::NONE;
        fam.rotated_by = None;
        fam.lost_rotation = None;
        let detail = format!("a person re-authorized org {} after {:.0} s", self.model.orgs[org as usize].name, secs);
        self.cause(super::causes::CauseKind::ManualReauth, now, Some(endpoint), Some(org), Some(session), None, detail, &[parent]);
    }
}
