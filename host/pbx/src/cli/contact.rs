//! `pbx contact ...`: a tenant's phone book, through the same store and CSV service as the
//! cabinet.

use super::output;
use clap::Subcommand;
use pbx_store::{NewContact, Store};

/// Phone-book commands.
#[derive(Debug, Subcommand)]
pub enum ContactCmd {
    /// Add or change the contact of a number.
    Set {
        /// Tenant slug.
        slug: String,
        /// The number in any usual form (+74951234567, 8 495 123-45-67...).
        number: String,
        /// The name the phones show.
        name: String,
        /// Company.
        #[arg(long, default_value = "")]
        company: String,
    },
    /// List or search the phone book.
    List {
        /// Tenant slug.
        slug: String,
        /// Digits of the number or text of the name or company.
        #[arg(long, default_value = "")]
        search: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete the contact of a number.
    Delete {
        /// Tenant slug.
        slug: String,
        /// The number.
        number: String,
    },
    /// Import a CSV file (columns number, name, company, note); all lines or none.
    Import {
        /// Tenant slug.
        slug: String,
        /// The file.
        file: std::path::PathBuf,
    },
    /// Write the phone book as CSV to standard output.
    Export {
        /// Tenant slug.
        slug: String,
    },
}

/// Runs a phone-book command.
pub async fn run(store: &Store, cmd: ContactCmd) -> anyhow::Result<()> {
    match cmd {
        ContactCmd::Set { slug, number, name, company } => {
            let t = store.tenant_by_slug(&slug).await?;
            let c = NewContact { number, name, company, note: String::new() }.check(&t.country_code)?;
            store.upsert_contacts(t.id, std::slice::from_ref(&c), "cli").await?;
            println!("{} = {}", c.number(), c.name());
        }
        ContactCmd::List { slug, search, json } => {
            let t = store.tenant_by_slug(&slug).await?;
            let rows = store.list_contacts(t.id, &t.country_code, &search, None, pbx_store::contacts::MAX_CONTACTS_PER_TENANT).await?;
            output::print(json, &rows, &["NUMBER", "NAME", "COMPANY"], |c| vec![c.number.clone(), c.name.clone(), c.company.clone()])?;
        }
        ContactCmd::Delete { slug, number } => {
            let t = store.tenant_by_slug(&slug).await?;
            let n = pbx_store::numbers::normalize(&number, &t.country_code)
                .ok_or_else(|| anyhow::anyhow!("{number:?} is not a telephone number"))?;
            store.delete_contact(t.id, &n).await?;
        }
        ContactCmd::Import { slug, file } => {
            let t = store.tenant_by_slug(&slug).await?;
            let bytes = std::fs::read(&file)?;
            let contacts = crate::contacts::parse_csv(&bytes, &t.country_code)?;
            let (added, replaced) = store.upsert_contacts(t.id, &contacts, "import").await?;
            println!("{added} added, {replaced} replaced");
        }
        ContactCmd::Export { slug } => {
            let t = store.tenant_by_slug(&slug).await?;
            let csv = crate::contacts::to_csv(&store.all_contacts(Some(t.id)).await?)?;
            std::io::Write::write_all(&mut std::io::stdout(), &csv)?;
        }
    }
    Ok(())
}
