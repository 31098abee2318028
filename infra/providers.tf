provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge({ Project = "event-platform", NamePrefix = var.name_prefix }, var.tags)
  }
}
