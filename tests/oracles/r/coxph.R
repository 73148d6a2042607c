# Cox proportional hazards (survival::coxph), Efron and Breslow ties. Output: coxph.json
source(file.path(dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1]))), "common.R"))
suppressPackageStartupMessages(library(survival))
one <- function(fit) {
  s <- summary(fit)
  list(covariates = I(names(coef(fit))), coef = I(unname(coef(fit))), se = I(unname(sqrt(diag(vcov(fit))))),
       var = unname(vcov(fit)), loglik = I(fit$loglik), n = fit$n, nevent = fit$nevent, iter = fit$iter,
       lr = unname(s$logtest[1]), lr_p = unname(s$logtest[3]), wald = unname(fit$wald.test), wald_p = unname(s$waldtest[3]), wald_summary_rounded = unname(s$waldtest[1]),
       score = unname(s$sctest[1]), score_p = unname(s$sctest[3]), df = unname(s$logtest[2]))
}
ctl <- coxph.control(eps = 1e-12, toler.chol = 1e-14, iter.max = 100)
rossi <- read_data("rossi"); lung <- read_data("lung"); vet <- read_data("veteran"); small <- read_data("small")
ties <- small[small$case == "ties", ]
lungc <- na.omit(lung[, c("time", "status", "age", "sex", "ph.ecog", "wt.loss")])
res <- list()
for (ties_method in c("efron", "breslow")) {
  res[[paste0("rossi_", ties_method)]] <- one(coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio,
                                                   data = rossi, ties = ties_method, control = ctl))
  res[[paste0("lung_", ties_method)]] <- one(coxph(Surv(time, status) ~ age + sex + ph.ecog + wt.loss,
                                                  data = lungc, ties = ties_method, control = ctl))
  res[[paste0("veteran_", ties_method)]] <- one(coxph(Surv(time, status) ~ trt + karno + diagtime + age + prior,
                                                     data = vet, ties = ties_method, control = ctl))
  res[[paste0("ties_", ties_method)]] <- one(coxph(Surv(time, status > 0) ~ x + I(group == "B"),
                                                  data = ties, ties = ties_method, control = ctl))
  # R's default control (eps 1e-9, 20 iterations): what a user's script would print.
  res[[paste0("rossi_default_", ties_method)]] <- one(coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio,
                                                           data = rossi, ties = ties_method))
}
write_json(res, "coxph.json")
