//! `stixgate package-files DIR`, hidden: the shell completions and man pages that the Debian package installs,
//! generated from the command line defined in this module so that they cannot drift from it. `scripts/deb`
//! runs it before `cargo deb`, which packages what it wrote (see `[package.metadata.deb]` in Cargo.toml).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;

/// The command's name, in the completions and the man pages.
const NAME: &str = "stixgate";

/// The shells whose completions the package installs, each where Debian's package of that shell looks.
const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

#[derive(Debug, Args)]
pub struct PackageFilesArgs {
    /// Directory to write into (made when missing): completions/ (bash, zsh, fish) and man/ (one page per
    /// command, section 1).
    dir: PathBuf,
}

pub(super) fn package_files(args: &PackageFilesArgs) -> anyhow::Result<ExitCode> {
    let completions = args.dir.join("completions");
    let man = args.dir.join("man");
    for dir in [&completions, &man] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut command = documented_command();
    for shell in SHELLS {
        clap_complete::generate_to(shell, &mut command, NAME, &completions).with_context(|| {
            format!(
                "writing the {shell} completions into {}",
                display(&completions)
            )
        })?;
    }
    clap_mangen::generate_to(documented_command(), &man)
        .with_context(|| format!("writing the man pages into {}", display(&man)))?;
    Ok(ExitCode::SUCCESS)
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// The command line as its users see it: `Cli` without its hidden subcommands. clap_mangen leaves hidden
/// subcommands out by itself, but clap_complete would offer them, and clap cannot remove a subcommand from a
/// command; so the root is made anew around the visible ones.
fn documented_command() -> clap::Command {
    let full = Cli::command();
    let mut root = clap::Command::new(NAME)
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .subcommands(full.get_subcommands().filter(|c| !c.is_hide_set()).cloned());
    if let Some(about) = full.get_about() {
        root = root.about(about.clone());
    }
    root
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn visible_subcommands() -> Vec<String> {
        Cli::command()
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| c.get_name().to_owned())
            .collect()
    }

    #[test]
    fn every_visible_subcommand_gets_a_man_page_and_completions_and_the_hidden_one_neither() {
        let dir = tempfile::tempdir().unwrap();
        let args = PackageFilesArgs {
            dir: dir.path().join("files"),
        };
        package_files(&args).unwrap();
        let read = |path: &str| {
            std::fs::read_to_string(args.dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
        };
        assert_eq!(Cli::command().get_name(), NAME);
        let subcommands = visible_subcommands();
        assert!(subcommands.len() > 10, "{subcommands:?}");
        assert!(subcommands.iter().any(|name| name == "serve"));

        let root = read("man/stixgate.1");
        assert!(root.starts_with(".ie"), "roff: {root:.200}");
        for name in &subcommands {
            let page = read(&format!("man/stixgate-{name}.1"));
            assert!(page.contains(&format!("stixgate\\-{}", name.replace('-', "\\-"))));
            assert!(
                root.contains(&name.replace('-', "\\-")),
                "{name} in stixgate.1"
            );
        }
        assert!(
            read("man/stixgate-serve.1").contains("\\-\\-listen"),
            "the options of serve"
        );

        for (file, shell) in [
            ("completions/stixgate.bash", "bash"),
            ("completions/_stixgate", "zsh"),
            ("completions/stixgate.fish", "fish"),
        ] {
            let text = read(file);
            for name in &subcommands {
                assert!(text.contains(name.as_str()), "{name} in {file}");
            }
            assert!(
                !text.contains("package-files"),
                "{file} offers the hidden command"
            );
            if shell == "bash" {
                let syntax = Command::new("bash")
                    .arg("-n")
                    .arg(args.dir.join(file))
                    .output()
                    .unwrap();
                assert!(syntax.status.success(), "{syntax:?}");
            }
        }
        let hidden_pages: Vec<_> = std::fs::read_dir(args.dir.join("man"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains("package-files"))
            .collect();
        assert!(hidden_pages.is_empty(), "{hidden_pages:?}");
    }

    #[test]
    fn the_hidden_command_still_runs() {
        use clap::Parser;
        let cli = Cli::try_parse_from(["stixgate", "package-files", "/tmp/x"]).unwrap();
        assert!(matches!(
            cli.command,
            super::super::Command::PackageFiles(_)
        ));
    }
}
