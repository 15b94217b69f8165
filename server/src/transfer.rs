//! `leasehold export`, `leasehold import` and `leasehold copy`: the REST
//! routes' export, import and copy, straight against etcd, through the same
//! code ([`crate::etcd::transfer`]).

use std::io::Write;

use anyhow::Context;

use crate::config::{CopyArgs, EtcdAccess, EtcdConfig, ExportArgs, ImportArgs};
use crate::etcd::transfer::{applied_body, plan_body, CopySpec, Exporter, Source};
use crate::etcd::Actions;

/// A client of the etcd the flags name, logged in when they name a user.
async fn connect(access: &EtcdAccess) -> anyhow::Result<(Actions, EtcdConfig)> {
    let config = access.etcd_config()?;
    let mut options = crate::etcd::connect_options(&config);
    if let Some(user) = &config.user {
        options = options.with_user(user.name.clone(), user.password.expose().to_owned());
    }
    let client = etcd_client::Client::connect(&config.endpoints, Some(options))
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach etcd at {}: {}", config.endpoints.join(","), e))?;
    Ok((Actions::new(client, config.request_timeout), config))
}

/// `leasehold export`: the document on stdout, or in `-o FILE` once whole
/// (written beside it first, then renamed).
pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let (actions, _) = connect(&args.etcd).await?;
    let mut exporter = Exporter::start(actions, &args.prefix, args.rev.unwrap_or(0), !args.drop_leases)
        .await
        .with_context(|| format!("cannot export {:?}", args.prefix))?;
    let partial = args.output.as_ref().map(|path| {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".partial");
        path.with_file_name(name)
    });
    // The command does nothing else meanwhile: plain blocking writes.
    let mut out: Box<dyn Write> = match &partial {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let written = async {
        while let Some(chunk) = exporter.next_chunk().await? {
            out.write_all(&chunk)?;
        }
        out.flush()?;
        anyhow::Ok(())
    }
    .await;
    drop(out);
    if let Err(error) = written {
        if let Some(path) = &partial {
            let _ = std::fs::remove_file(path);
        }
        return Err(error.context(format!("the export of {:?} stopped before its end", args.prefix)));
    }
    if let (Some(partial), Some(path)) = (&partial, &args.output) {
        std::fs::rename(partial, path).with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!(
        "exported {} key(s) under {:?} at revision {}",
        exporter.items(),
        args.prefix,
        exporter.revision()
    );
    Ok(())
}

/// `leasehold import`: the dry run's plan as JSON on stdout; with `--apply`,
/// the plan made again at the dry run's revision and applied, and the
/// outcome printed instead. Conflicts, or an apply cut short, end it with
/// an error after the outcome is printed.
pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    // Read a key at a time, values into a temporary file: a document of
    // any size costs memory only for its keys.
    let source = if args.file.as_os_str() == "-" {
        Source::read_from(std::io::stdin().lock(), args.from.as_deref())
    } else {
        let file = std::fs::File::open(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
        Source::read_from(file, args.from.as_deref())
    }
    .map_err(|why| anyhow::anyhow!("{}: {why}", args.file.display()))?;
    if args.recreate_leases && source.etcdctl {
        anyhow::bail!("--recreate-leases needs the leases' TTLs, which etcdctl's output does not record");
    }
    let (actions, _) = connect(&args.etcd).await?;
    let target = args.prefix.as_bytes();
    let plan = actions
        .import_plan(&source, target, 0, args.recreate_leases)
        .await
        .context("the dry run failed")?;
    let planned = plan_body(target, &source, &plan, args.delete_missing);
    eprintln!(
        "dry run at revision {}: {} to add, {} to change, {} unchanged, {} here and not in the document ({})",
        planned.revision,
        planned.added.len(),
        planned.changed.len(),
        planned.unchanged,
        planned.absent_here.len(),
        if args.delete_missing { "deleted" } else { "kept" }
    );
    if !args.apply {
        print_json(&planned)?;
        return Ok(());
    }
    // Applied against what the dry run saw: its plan, at its revision.
    let seen = planned.revision;
    let plan = actions
        .import_plan(&source, target, seen, args.recreate_leases)
        .await
        .context("the plan could not be read again at the dry run's revision")?;
    let planned = plan_body(target, &source, &plan, args.delete_missing);
    let applied = actions.import_apply(&source, plan, args.delete_missing).await;
    let answer = applied_body(planned, &source, &applied);
    print_json(&answer)?;
    eprintln!(
        "applied: {} written, {} deleted, {} conflict(s), in {} transaction(s)",
        answer.written,
        answer.deleted,
        answer.conflicts.len(),
        answer.transactions
    );
    if let Some(why) = &answer.interrupted {
        anyhow::bail!("the import stopped with {} key(s) left: {why}", answer.remaining);
    }
    if !answer.conflicts.is_empty() {
        anyhow::bail!(
            "{} key(s) changed since the dry run at revision {seen} and were left as they are",
            answer.conflicts.len()
        );
    }
    Ok(())
}

/// `leasehold copy`: the dry run's plan as JSON on stdout; with `--apply`,
/// the copy (and with `--rename` the removal) made at the dry run's
/// revision, and the outcome printed instead. Conflicts, keys not moved, or
/// an apply cut short end it with an error after the outcome is printed;
/// running it again resumes.
pub async fn copy(args: CopyArgs) -> anyhow::Result<()> {
    let mut spec = CopySpec {
        from: args.from.clone().into_bytes(),
        to: args.to.clone().into_bytes(),
        rev: args.rev,
        rename: args.rename,
        dry_run: true,
        delete_missing: args.delete_missing,
        recreate: args.recreate_leases,
        expect_revision: None,
    };
    if let Some(why) = spec.refusal() {
        anyhow::bail!(why);
    }
    let (actions, _) = connect(&args.etcd).await?;
    let planned = actions.copy_prefix(&spec).await.context("the dry run failed")?;
    eprintln!(
        "dry run at revision {}: {} key(s) under {:?}; onto {:?} {} to add, {} to change, {} unchanged, {} here \
         and not under {:?} ({}){}",
        planned.copy.revision,
        planned.source_keys,
        args.from,
        args.to,
        planned.copy.added.len(),
        planned.copy.changed.len(),
        planned.copy.unchanged,
        planned.copy.absent_here.len(),
        args.from,
        if args.delete_missing { "deleted" } else { "kept" },
        if args.rename {
            "; then removed from the source"
        } else {
            ""
        }
    );
    if !args.apply {
        print_json(&planned)?;
        return Ok(());
    }
    spec.dry_run = false;
    spec.expect_revision = Some(planned.copy.revision);
    let answer = actions
        .copy_prefix(&spec)
        .await
        .context("the copy could not be made at the dry run's revision")?;
    print_json(&answer)?;
    eprintln!(
        "applied: {} written, {} deleted, {} conflict(s), in {} transaction(s){}",
        answer.copy.written,
        answer.copy.deleted,
        answer.copy.conflicts.len(),
        answer.copy.transactions,
        if args.rename {
            format!(
                "; {} removed from {:?}, {} changed since and kept, {} not moved",
                answer.removed,
                args.from,
                answer.removal_conflicts.len(),
                answer.not_moved
            )
        } else {
            String::new()
        }
    );
    if let Some(why) = answer.copy.interrupted.as_ref().or(answer.removal_interrupted.as_ref()) {
        anyhow::bail!("the copy stopped before its end (run it again to resume): {why}");
    }
    if !answer.copy.conflicts.is_empty() || !answer.removal_conflicts.is_empty() {
        anyhow::bail!(
            "{} key(s) changed since the dry run and were left as they are",
            answer.copy.conflicts.len() + answer.removal_conflicts.len()
        );
    }
    Ok(())
}

/// `value` as indented JSON on stdout, the only thing a script reads there.
fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)?;
    writeln!(stdout).context("writing to stdout")?;
    Ok(())
}
