//! Each account's time zone, as CoMagic's `get.account` reports it: read when first needed,
//! again when the read is older than the zone TTL (a day), and at once when CoMagic refuses a
//! time. The call goes through [`Deliverer::call`] like every other CoMagic call, so it is
//! counted in `comagic_requests_total` and its limits are observed.

use crate::deliver::Deliverer;
use crate::tenants::TenantHandle;
use chrono_tz::Tz;

impl Deliverer {
    /// The zone to write the tenant's record times in: the account's as last read, else the
    /// stored one, else CoMagic's usual zone.
    pub(crate) async fn account_zone(&self, handle: &TenantHandle) -> Tz {
        let known = match self.tenants.trusted_zone(handle).await {
            Some(zone) => zone,
            None => {
                self.reread_account_zone(handle).await;
                self.tenants.known_zone(handle).await
            }
        };
        known.unwrap_or(leadback_model::DEFAULT_ZONE)
    }

    /// Reads `get.account` now; whether the account's zone changed.
    pub(crate) async fn reread_account_zone(&self, handle: &TenantHandle) -> bool {
        let read = self
            .call("get.account", handle.tenant.id, handle.client.get_account())
            .await
            .map(|account| account.timezone);
        self.tenants.apply_account_read(handle, read).await
    }
}
