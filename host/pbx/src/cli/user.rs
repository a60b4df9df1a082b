//! `pbx user ...`

use super::output;
use clap::Subcommand;
use pbx_store::{NewUser, Role, Store};

/// User commands.
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user (an extension with a SIP account).
    Create {
        /// Tenant slug.
        slug: String,
        /// Extension number (2-6 digits), also the SIP user name.
        ext: String,
        /// SIP password.
        #[arg(long)]
        password: String,
        /// Full name, shown as the caller name.
        #[arg(long, default_value = "")]
        name: String,
        /// Cabinet role.
        #[arg(long, default_value = "user", value_parser = ["user", "supervisor"])]
        role: String,
        /// Cabinet password (enables web login).
        #[arg(long)]
        web_password: Option<String>,
    },
    /// List a tenant's users.
    List {
        /// Tenant slug.
        slug: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a user.
    Delete {
        /// Tenant slug.
        slug: String,
        /// Extension.
        ext: String,
    },
}

/// Runs a user command.
pub async fn run(store: &Store, cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Create { slug, ext, password, name, role, web_password } => {
            let t = store.tenant_by_slug(&slug).await?;
            let role = Role::parse(&role).ok_or_else(|| anyhow::anyhow!("role must be user or supervisor"))?;
            let u = store
                .create_user(
                    t.id,
                    &NewUser { ext: &ext, sip_password: &password, name: &name, role, web_password: web_password.as_deref() },
                )
                .await?;
            println!("created user {} in {} (sip:{}@{})", u.ext, t.slug, u.ext, t.domain);
        }
        UserCmd::List { slug, json } => {
            let t = store.tenant_by_slug(&slug).await?;
            let users = store.list_users(t.id).await?;
            output::print(json, &users, &["EXT", "NAME", "ROLE", "WEB LOGIN"], |u| {
                vec![u.ext.clone(), u.name.clone(), u.role.as_str().into(), if u.has_web_login { "yes" } else { "no" }.into()]
            })?;
        }
        UserCmd::Delete { slug, ext } => {
            let t = store.tenant_by_slug(&slug).await?;
            store.delete_user(t.id, &ext).await?;
            println!("deleted user {ext} from {slug}");
        }
    }
    Ok(())
}
