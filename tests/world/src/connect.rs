//! The connected company, seeded straight into the store and the token vault: a `Connected`
//! QuickBooks connection, user installs, tokens the simulators issued.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use chrono::{DateTime, Duration, Utc};
use sandbox::pipedrive::SimError;
use sandbox::quickbooks::RealmSeed;
use shared::domain::{CompanyId, CustomerLink, Party, Settings, UserId};

use shared::app::tokens::grants::{pipedrive_granted, quickbooks_granted};

use crate::seed::{connected_profile, user_install};
use crate::tokens::tenant;
use crate::world::World;

/// How long before "now" a seeded company connected QuickBooks (a sync without a watermark
/// reads changes since then).
const CONNECTED_DAYS_AGO: i64 = 2;

/// A company to connect ([`World::connect`]); `.await` it.
#[must_use = "a connection is seeded when awaited"]
pub struct Connect<'w> {
    world: &'w World,
    company: u64,
    admin: u64,
    realm: String,
    members: Vec<u64>,
    settings: Settings,
    watermark: Option<DateTime<Utc>>,
}

impl Connect<'_> {
    /// Other users of the company who installed the app (not Pipedrive admins).
    pub fn members(mut self, users: &[u64]) -> Self {
        self.members.extend_from_slice(users);
        self
    }

    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Where the status sync last stopped.
    pub fn watermark(mut self, watermark: Option<DateTime<Utc>>) -> Self {
        self.watermark = watermark;
        self
    }

    async fn seed(self) {
        let w = self.world;
        let now = w.now();
        if !w.quickbooks.realm_ids().contains(&self.realm) {
            w.quickbooks.seed_realm(&RealmSeed::us(&self.realm));
        }
        let connected_at = now - Duration::days(CONNECTED_DAYS_AGO);
        let mut profile = connected_profile(self.company, self.admin, &self.realm, connected_at);
        profile.settings = self.settings;
        profile.sync_watermark = self.watermark;
        if let Some(zone) = &w.time_zone {
            profile.time_zone = zone.clone();
        }
        w.app
            .records
            .create_company(&profile)
            .await
            .expect("profile created");
        let users = std::iter::once(self.admin).chain(self.members.iter().copied());
        for (i, user) in users.enumerate() {
            w.install(self.company, user, i == 0).await;
        }
        let issued = w
            .quickbooks
            .issue_tokens(&self.realm)
            .expect("QuickBooks tokens");
        let tokens = quickbooks_granted(&self.realm, &issued, now);
        w.app
            .tokens
            .update_secrets(CompanyId(self.company), move |s| {
                s.quickbooks = Some(tokens);
            })
            .await
            .expect("tokens stored");
    }
}

impl<'w> IntoFuture for Connect<'w> {
    type Output = ();
    type IntoFuture = Pin<Box<dyn Future<Output = ()> + Send + 'w>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.seed())
    }
}

impl World {
    /// Connects `company` to `realm` (a US realm is seeded in the simulator if it has none),
    /// connected two days ago by `admin`, who installed the app, with QuickBooks and Pipedrive
    /// tokens the simulators issued. Options: [`Connect::members`], [`Connect::settings`],
    /// [`Connect::watermark`].
    pub fn connect(&self, company: u64, admin: u64, realm: &str) -> Connect<'_> {
        Connect {
            world: self,
            company,
            admin,
            realm: realm.to_string(),
            members: Vec::new(),
            settings: Settings::default(),
            watermark: None,
        }
    }

    /// Installs the app for `user`: the install record and, for a user the Pipedrive simulator
    /// seeds, the tokens it issued.
    pub async fn install(&self, company: u64, user: u64, is_admin: bool) {
        let now = self.now();
        let install = user_install(
            tenant(company, user),
            is_admin,
            &self.pipedrive.base_url(),
            now,
        );
        self.app
            .records
            .put_user_install(&install)
            .await
            .expect("install stored");
        let issued = match self.pipedrive.issue_tokens(company, user) {
            Ok(issued) => issued,
            // A company the Pipedrive simulator does not seed (e.g. the sync's): no tokens.
            Err(SimError::UnknownCompany(_) | SimError::UnknownUser { .. }) => return,
            Err(e) => panic!("Pipedrive tokens: {e}"),
        };
        let tokens = pipedrive_granted(&issued, now);
        self.app
            .tokens
            .update_secrets(CompanyId(company), move |s| {
                s.pipedrive.insert(user, tokens);
            })
            .await
            .expect("tokens stored");
    }

    /// Marks every access token of a company as expired in the vault (the next call refreshes
    /// through the simulators' token endpoints).
    pub async fn expire_tokens(&self, company: u64) {
        let past = self.now() - Duration::seconds(10);
        self.app
            .tokens
            .update_secrets(CompanyId(company), move |s| {
                if let Some(q) = s.quickbooks.as_mut() {
                    q.access_expires_at = past;
                }
                for p in s.pipedrive.values_mut() {
                    p.access_expires_at = past;
                }
            })
            .await
            .unwrap();
    }

    /// Links a Pipedrive party to a QuickBooks customer in the store.
    pub async fn seed_customer_link(
        &self,
        company: u64,
        party: Party,
        realm: &str,
        customer_id: &str,
        name: &str,
    ) {
        self.app
            .records
            .save_customer_link(&CustomerLink {
                company_id: CompanyId(company),
                party,
                realm_id: realm.to_string(),
                customer_id: customer_id.to_string(),
                display_name: name.to_string(),
                currency: None,
                linked_by: UserId(0),
                linked_at: self.now(),
                version: 0,
            })
            .await
            .expect("customer link stored");
    }
}
