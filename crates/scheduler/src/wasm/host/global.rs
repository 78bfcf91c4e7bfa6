//! The cluster-wide name functions (docs/ABI.md, "Cluster"): `register_global`,
//! `unregister_global`, `whereis_global`. Each asks the cluster's transport and waits
//! like a receive for its answer (the actor layer's `global_name`).

use shoal_abi::status;
use wasmtime::{Caller, Linker};

use super::memory::read_name;
use super::{HOST_MODULE, HostState, pid_arg};
use crate::actor::{self, GlobalAnswer, GlobalName};
use crate::error::GlobalNameError;
use crate::wasm::preempt::{begin_new_quantum, sync_fuel};

pub(super) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        HOST_MODULE,
        "register_global",
        |mut caller: Caller<'_, HostState>, (ptr, len, pid): (i32, i32, i64)| {
            Box::new(async move {
                let name = match read_name(&caller, "register_global", ptr, len)? {
                    Ok(name) => name,
                    Err(status) => return Ok(status),
                };
                let Some(pid) = pid_arg(pid) else {
                    return Ok(status::NOPROC);
                };
                let answer = ask(&mut caller, GlobalName::Register { name, pid }).await;
                Ok(match answer {
                    Ok(_) => status::OK,
                    Err(e) => error_status(&e),
                })
            })
        },
    )?;

    linker.func_wrap_async(
        HOST_MODULE,
        "unregister_global",
        |mut caller: Caller<'_, HostState>, (ptr, len): (i32, i32)| {
            Box::new(async move {
                let name = match read_name(&caller, "unregister_global", ptr, len)? {
                    Ok(name) => name,
                    Err(status) => return Ok(status),
                };
                Ok(
                    match ask(&mut caller, GlobalName::Unregister { name }).await {
                        Ok(Some(_)) => status::OK,
                        Ok(None) => status::NOPROC,
                        Err(e) => error_status(&e),
                    },
                )
            })
        },
    )?;

    linker.func_wrap_async(
        HOST_MODULE,
        "whereis_global",
        |mut caller: Caller<'_, HostState>, (ptr, len): (i32, i32)| {
            Box::new(async move {
                let name = match read_name(&caller, "whereis_global", ptr, len)? {
                    Ok(name) => name,
                    Err(status) => return Ok(i64::from(status)),
                };
                Ok(match ask(&mut caller, GlobalName::Whereis { name }).await {
                    Ok(Some(pid)) => pid.to_bits() as i64,
                    Ok(None) => i64::from(status::NOPROC),
                    Err(e) => i64::from(error_status(&e)),
                })
            })
        },
    )?;
    Ok(())
}

/// Asks the transport and waits; a wait that suspended the guest starts it a new
/// quantum, as every wait does.
async fn ask(caller: &mut Caller<'_, HostState>, request: GlobalName) -> GlobalAnswer {
    sync_fuel(&*caller, false);
    let (executor, actors, process) = caller.data().owned_parts();
    let (answer, waited) = actor::global_name(&executor, &actors, &process, request).await;
    if waited {
        begin_new_quantum(&mut *caller);
    }
    answer
}

/// The guest status for a refused name request (docs/ABI.md).
fn error_status(error: &GlobalNameError) -> i32 {
    match error {
        GlobalNameError::Taken { .. } => status::NAME_TAKEN,
        GlobalNameError::NoProc(_) => status::NOPROC,
        GlobalNameError::BadName(_) => status::BAD_NAME,
        GlobalNameError::Unavailable(_) => status::REFUSED,
    }
}
