//! The worker pool: a fixed number of tasks, each claiming and running one
//! job at a time through the service core. Jobs run on blocking threads, so
//! the doors stay responsive while the sandbox works.

use std::time::Duration;

use crate::service::Service;

/// Starts `workers` worker tasks and one task that re-queues jobs whose
/// worker (on any node) stopped renewing its lease.
pub fn spawn_workers(service: &Service, workers: u32) -> Vec<tokio::task::JoinHandle<()>> {
    let reaper = {
        let service = service.clone();
        tokio::spawn(async move {
            loop {
                if let Err(error) = service.reap_expired_leases().await {
                    tracing::error!(%error, "could not recover expired leases");
                }
                tokio::time::sleep(service.lease_check_interval()).await;
            }
        })
    };
    let mut handles: Vec<tokio::task::JoinHandle<()>> = (0..workers)
        .map(|index| {
            let service = service.clone();
            tokio::spawn(async move {
                loop {
                    match service.run_next_job().await {
                        Ok(true) => {}
                        Ok(false) => service.wait_for_work(Duration::from_secs(1)).await,
                        Err(error) => {
                            tracing::error!(worker = index, %error, "worker could not run a job");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            })
        })
        .collect();
    handles.push(reaper);
    handles
}
