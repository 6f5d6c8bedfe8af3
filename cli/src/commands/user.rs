//! `wagw user add|list|passwd|set|rm`.

use std::io::{IsTerminal, Read};

use clap::Subcommand;
use wagw_proto::control::v1::{
    AddUserRequest, ListUsersRequest, RemoveUserRequest, SetPasswordRequest, UpdateUserRequest,
};

use super::{Ctx, confirm, failed, field, parse};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is asked for without echo.
    Add {
        name: String,
        /// Read the password from standard input instead of asking.
        #[arg(long)]
        password_stdin: bool,
        /// Name the user's session differently from the username.
        #[arg(long)]
        session_name: Option<String>,
        /// Webhook URL for the user's events.
        #[arg(long)]
        callback: Option<String>,
        /// Print the created user as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List users.
    List {
        /// Print JSON for scripts (the objects of GET /admin/users).
        #[arg(long)]
        json: bool,
    },
    /// Change a user's password.
    Passwd {
        name: String,
        /// Read the password from standard input instead of asking.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's settings; an empty value clears a setting.
    Set {
        name: String,
        /// Webhook URL for the user's events.
        #[arg(long)]
        callback: Option<String>,
        /// OAuth2 client id for webhook delivery.
        #[arg(long)]
        oauth_login: Option<String>,
        /// Read the OAuth2 client secret from standard input.
        #[arg(long)]
        oauth_password_stdin: bool,
        /// Rename the user's session (log it out first).
        #[arg(long)]
        session_name: Option<String>,
        /// Standard Webhooks signing secret (whsec_…).
        #[arg(long)]
        webhook_secret: Option<String>,
        /// Print the updated user as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a user, logging out and removing their session.
    Rm {
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

pub async fn run(ctx: &Ctx, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            password_stdin,
            session_name,
            callback,
            json,
        } => {
            let password = password(&name, password_stdin, true)?;
            let mut client = ctx.client().await?;
            let request = AddUserRequest {
                username: name,
                password,
                session_name,
                callback_url: callback,
            };
            let user = parse(client.add_user(request).await.map_err(failed)?)?;
            if json {
                println!("{user}");
            } else {
                println!(
                    "user '{}' created (id {}, session '{}')",
                    field(&user, "username"),
                    field(&user, "id"),
                    field(&user, "session")
                );
            }
        }
        UserCommand::List { json } => {
            let users = parse(
                ctx.client()
                    .await?
                    .list_users(ListUsersRequest {})
                    .await
                    .map_err(failed)?,
            )?;
            if json {
                println!("{users}");
            } else {
                print_table(&users);
            }
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let password = password(&name, password_stdin, true)?;
            let mut client = ctx.client().await?;
            let done = parse(
                client
                    .set_password(SetPasswordRequest {
                        username: name,
                        password,
                    })
                    .await
                    .map_err(failed)?,
            )?;
            println!("{}", field(&done, "message"));
        }
        UserCommand::Set {
            name,
            callback,
            oauth_login,
            oauth_password_stdin,
            session_name,
            webhook_secret,
            json,
        } => {
            let oauth_password = if oauth_password_stdin {
                Some(read_stdin_secret()?)
            } else {
                None
            };
            let request = UpdateUserRequest {
                username: name,
                session_name,
                callback_url: callback,
                oauth_login,
                oauth_password,
                webhook_secret,
            };
            let user = parse(
                ctx.client()
                    .await?
                    .update_user(request)
                    .await
                    .map_err(failed)?,
            )?;
            if json {
                println!("{user}");
            } else {
                println!("user '{}' updated", field(&user, "username"));
            }
        }
        UserCommand::Rm { name, yes } => {
            if !yes
                && !confirm(&format!(
                    "Delete user '{name}', log out their session and delete its messages?"
                ))?
            {
                anyhow::bail!("not deleted");
            }
            let done = parse(
                ctx.client()
                    .await?
                    .remove_user(RemoveUserRequest { username: name })
                    .await
                    .map_err(failed)?,
            )?;
            println!("{}", field(&done, "message"));
        }
    }
    Ok(())
}

fn print_table(users: &serde_json::Value) {
    let rows = users.as_array().map(Vec::as_slice).unwrap_or_default();
    if rows.is_empty() {
        println!("no users");
        return;
    }
    println!("{:<5} {:<20} {:<20} CALLBACK", "ID", "USERNAME", "SESSION");
    for user in rows {
        println!(
            "{:<5} {:<20} {:<20} {}",
            field(user, "id"),
            field(user, "username"),
            field(user, "session"),
            field(user, "callback_url")
        );
    }
}

/// A password from standard input, or asked twice on the terminal without echo.
fn password(name: &str, from_stdin: bool, twice: bool) -> anyhow::Result<String> {
    if from_stdin {
        return read_stdin_secret();
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("no terminal to ask for the password; pass it with --password-stdin");
    }
    let first = rpassword::prompt_password(format!("Password for '{name}': "))?;
    if twice {
        let again = rpassword::prompt_password("Again: ")?;
        if again != first {
            anyhow::bail!("the passwords do not match");
        }
    }
    Ok(first)
}

/// Reads a secret from standard input, without the line ending a shell or `echo` adds.
fn read_stdin_secret() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    let trimmed = text.strip_suffix('\n').unwrap_or(&text);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    if trimmed.is_empty() {
        anyhow::bail!(
            "standard input was empty; pipe the secret in, e.g. `printf %s \"$PASS\" | wagw …`"
        );
    }
    Ok(trimmed.to_string())
}
