output "user_pool_id" {
  description = "ID of the Cognito user pool."
  value       = aws_cognito_user_pool.this.id
}

output "user_pool_arn" {
  description = "ARN of the Cognito user pool."
  value       = aws_cognito_user_pool.this.arn
}

output "app_client_id" {
  description = "ID of the API's app client (the access tokens' client_id claim)."
  value       = aws_cognito_user_pool_client.api.id
}

output "issuer" {
  description = "Issuer (iss claim) of the pool's tokens."
  value       = local.issuer
}

output "jwks_url" {
  description = "URL of the pool's JSON Web Key Set (the keys that sign its tokens)."
  value       = "${local.issuer}/.well-known/jwks.json"
}

output "group_names" {
  description = "Names of the pool's groups."
  value       = sort([for group in aws_cognito_user_group.this : group.name])
}
