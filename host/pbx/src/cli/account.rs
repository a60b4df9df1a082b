//! `pbx operator ...` and `pbx token ...`: the first operator account of a fresh install and
//! API tokens for integrations (printed once; only a hash is stored).

use clap::Subcommand;
use pbx_store::Store;

/// Operator account commands.
#[derive(Debug, Subcommand)]
pub enum OperatorCmd {
    /// Create an operator account (signs in to the cabinet with LOGIN and the password).
    Create {
        /// Login.
        login: String,
        /// Password (8 to 128 characters).
        #[arg(long)]
        password: String,
    },
}

/// API token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create an API token and print it (send it as `Authorization: Bearer TOKEN`).
    Create {
        /// Tenant slug (omit with --operator).
        slug: Option<String>,
        /// The token's role in the tenant.
        #[arg(long, value_parser = ["supervisor", "user"])]
        role: Option<String>,
        /// The user a `user` token acts as.
        #[arg(long)]
        ext: Option<String>,
        /// A token for the operator API.
        #[arg(long)]
        operator: bool,
        /// What it is for.
        #[arg(long, default_value = "")]
        label: String,
    },
}

/// Runs an operator command.
pub async fn run_operator(store: &Store, cmd: OperatorCmd) -> anyhow::Result<()> {
    match cmd {
        OperatorCmd::Create { login, password } => {
            store.create_operator(&login, &password).await?;
            println!("created operator {login}");
        }
    }
    Ok(())
}

/// Runs a token command.
pub async fn run_token(store: &Store, cmd: TokenCmd) -> anyhow::Result<()> {
    match cmd {
        TokenCmd::Create { slug, role, ext, operator, label } => {
            let (_, secret) = match (operator, slug) {
                (true, None) => store.create_token(None, "operator", None, &label).await?,
                (true, Some(_)) => anyhow::bail!("an operator token belongs to no tenant: drop the slug"),
                (false, None) => anyhow::bail!("name the tenant (pbx token create SLUG --role ...) or pass --operator"),
                (false, Some(slug)) => {
                    let t = store.tenant_by_slug(&slug).await?;
                    let role = role.ok_or_else(|| anyhow::anyhow!("--role supervisor|user is required"))?;
                    let user_id = match ext {
                        Some(e) => Some(store.user_by_ext(t.id, &e).await?.id),
                        None if role == "user" => anyhow::bail!("a user token needs --ext EXT"),
                        None => None,
                    };
                    store.create_token(Some(t.id), &role, user_id, &label).await?
                }
            };
            println!("{secret}");
        }
    }
    Ok(())
}
