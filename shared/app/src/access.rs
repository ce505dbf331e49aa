//! Who may do what: every `/api/*` handler starts here with the verified [`Tenant`].

use domain::{AccessPolicy, CompanyProfile, UserInstall};
use store::records::Records;
use web::auth::Tenant;
use web::error::ApiError;

/// The caller's company and installation, or 403 when this user has not installed the app.
pub async fn require_install(
    records: &Records,
    tenant: Tenant,
) -> Result<(CompanyProfile, UserInstall), ApiError> {
    // Both reads at once: one store round trip, not two.
    let (install, profile) = futures::join!(
        records.get_user_install(tenant.company_id, tenant.user_id),
        records.get_company(tenant.company_id)
    );
    let install = install?.ok_or_else(|| {
        ApiError::Forbidden(
            "You have not installed the QuickBooks app in Pipedrive yet. Install it from the Marketplace, then reload.".into(),
        )
    })?;
    let profile = profile?
        .ok_or_else(|| ApiError::Internal("an installed user's company has no profile".into()))?;
    Ok((profile, install))
}

/// Like [`require_install`], and the caller must be a Pipedrive admin of the company.
pub async fn require_admin(
    records: &Records,
    tenant: Tenant,
) -> Result<(CompanyProfile, UserInstall), ApiError> {
    let (profile, install) = require_install(records, tenant).await?;
    if !install.is_admin {
        return Err(ApiError::Forbidden(
            "Only a Pipedrive admin of your company can change these settings.".into(),
        ));
    }
    Ok((profile, install))
}

/// Whether the company's access policy lets this user see and create invoices.
pub fn may_invoice(profile: &CompanyProfile, tenant: Tenant) -> Result<(), ApiError> {
    match profile.settings.access {
        AccessPolicy::AllInstalledUsers => Ok(()),
        AccessPolicy::ConnectedUserOnly => {
            let connected_by = profile.quickbooks.as_ref().map(|q| q.connected_by);
            if connected_by == Some(tenant.user_id) {
                Ok(())
            } else {
                Err(ApiError::Forbidden(
                    "Your company lets only the user who connected QuickBooks work with invoices. Ask an admin to change this in the app settings.".into(),
                ))
            }
        }
    }
}
