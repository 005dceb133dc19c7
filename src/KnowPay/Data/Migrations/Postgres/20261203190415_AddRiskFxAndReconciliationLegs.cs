using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class AddRiskFxAndReconciliationLegs : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "journal_id",
                table: "reconciliation_items",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "offered_action",
                table: "reconciliation_items",
                type: "character varying(16)",
                maxLength: 16,
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "risk_account_created_at",
                table: "payments",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "risk_device_id",
                table: "payments",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "risk_ip",
                table: "payments",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "risk_login_id",
                table: "payments",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "risk_user_agent",
                table: "payments",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "fx_expires_at",
                table: "orders",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "fx_from",
                table: "orders",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "fx_from_amount",
                table: "orders",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "fx_quote_id",
                table: "orders",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<decimal>(
                name: "fx_rate",
                table: "orders",
                type: "numeric(28,16)",
                precision: 28,
                scale: 16,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "fx_source",
                table: "orders",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<bool>(
                name: "allow_converted_prices",
                table: "merchants",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<int>(
                name: "fx_markup_bps",
                table: "merchants",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<int>(
                name: "progress",
                table: "entitlements",
                type: "integer",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "fx_rates",
                columns: table => new
                {
                    merchant_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    source = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    @base = table.Column<string>(name: "base", type: "character varying(200)", maxLength: 200, nullable: false),
                    quote = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    rate = table.Column<decimal>(type: "numeric(28,12)", precision: 28, scale: 12, nullable: false),
                    as_of = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    updated_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_fx_rates", x => new { x.merchant_id, x.source, x.@base, x.quote });
                });

            migrationBuilder.CreateTable(
                name: "risk_decisions",
                columns: table => new
                {
                    id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    merchant_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    stage = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    order_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    payment_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    refund_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    customer_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    ip = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    device_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    amount = table.Column<long>(type: "bigint", nullable: false),
                    currency = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    action = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    score = table.Column<int>(type: "integer", nullable: false),
                    rule_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    reasons = table.Column<string>(type: "character varying(1000)", maxLength: 1000, nullable: false),
                    signals = table.Column<string>(type: "character varying(10000)", maxLength: 10000, nullable: false),
                    rule_hits = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: false),
                    unavailable = table.Column<string>(type: "character varying(1000)", maxLength: 1000, nullable: true),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_risk_decisions", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "risk_lists",
                columns: table => new
                {
                    merchant_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    values = table.Column<string>(type: "character varying(1000000)", maxLength: 1000000, nullable: false),
                    updated_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_risk_lists", x => new { x.merchant_id, x.name });
                });

            migrationBuilder.CreateTable(
                name: "risk_policies",
                columns: table => new
                {
                    merchant_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    rules = table.Column<string>(type: "character varying(100000)", maxLength: 100000, nullable: false),
                    single_payment_max = table.Column<long>(type: "bigint", nullable: true),
                    customer_daily_amount = table.Column<long>(type: "bigint", nullable: true),
                    customer_daily_count = table.Column<long>(type: "bigint", nullable: true),
                    product_quantity_per_customer = table.Column<long>(type: "bigint", nullable: true),
                    review_threshold = table.Column<int>(type: "integer", nullable: true),
                    block_threshold = table.Column<int>(type: "integer", nullable: true),
                    version = table.Column<long>(type: "bigint", nullable: false),
                    updated_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_risk_policies", x => x.merchant_id);
                });

            migrationBuilder.CreateTable(
                name: "risk_reviews",
                columns: table => new
                {
                    id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    merchant_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    decision_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    stage = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    order_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    payment_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    refund_amount = table.Column<long>(type: "bigint", nullable: true),
                    refund_reason = table.Column<string>(type: "character varying(500)", maxLength: 500, nullable: true),
                    refund_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    score = table.Column<int>(type: "integer", nullable: false),
                    rule_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    reasons = table.Column<string>(type: "character varying(1000)", maxLength: 1000, nullable: false),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    decided_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    decided_by = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_risk_reviews", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_ledger_journals_payment_id",
                table: "ledger_journals",
                column: "payment_id");

            migrationBuilder.CreateIndex(
                name: "ix_risk_decisions_merchant_id_created_at",
                table: "risk_decisions",
                columns: new[] { "merchant_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_risk_decisions_merchant_id_customer_id_created_at",
                table: "risk_decisions",
                columns: new[] { "merchant_id", "customer_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_risk_decisions_merchant_id_device_id_created_at",
                table: "risk_decisions",
                columns: new[] { "merchant_id", "device_id", "created_at" },
                filter: "device_id IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "ix_risk_decisions_merchant_id_ip_created_at",
                table: "risk_decisions",
                columns: new[] { "merchant_id", "ip", "created_at" },
                filter: "ip IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "ix_risk_decisions_order_id",
                table: "risk_decisions",
                column: "order_id");

            migrationBuilder.CreateIndex(
                name: "ix_risk_reviews_merchant_id_id",
                table: "risk_reviews",
                columns: new[] { "merchant_id", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_risk_reviews_open_created_at",
                table: "risk_reviews",
                column: "created_at",
                filter: "status = 'Open'");

            migrationBuilder.CreateIndex(
                name: "ix_risk_reviews_order_id_status",
                table: "risk_reviews",
                columns: new[] { "order_id", "status" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "fx_rates");

            migrationBuilder.DropTable(
                name: "risk_decisions");

            migrationBuilder.DropTable(
                name: "risk_lists");

            migrationBuilder.DropTable(
                name: "risk_policies");

            migrationBuilder.DropTable(
                name: "risk_reviews");

            migrationBuilder.DropIndex(
                name: "ix_ledger_journals_payment_id",
                table: "ledger_journals");

            migrationBuilder.DropColumn(
                name: "journal_id",
                table: "reconciliation_items");

            migrationBuilder.DropColumn(
                name: "offered_action",
                table: "reconciliation_items");

            migrationBuilder.DropColumn(
                name: "risk_account_created_at",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "risk_device_id",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "risk_ip",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "risk_login_id",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "risk_user_agent",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "fx_expires_at",
                table: "orders");

            migrationBuilder.DropColumn(
                name: "fx_from",
                table: "orders");

            migrationBuilder.DropColumn(
                name: "fx_from_amount",
                table: "orders");

            migrationBuilder.DropColumn(
                name: "fx_quote_id",
                table: "orders");

            migrationBuilder.DropColumn(
                name: "fx_rate",
                table: "orders");

            migrationBuilder.DropColumn(
                name: "fx_source",
                table: "orders");

            migrationBuilder.DropColumn(
                name: "allow_converted_prices",
                table: "merchants");

            migrationBuilder.DropColumn(
                name: "fx_markup_bps",
                table: "merchants");

            migrationBuilder.DropColumn(
                name: "progress",
                table: "entitlements");
        }
    }
}
