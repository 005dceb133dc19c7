using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class HotPathIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_payments_duplicate_status",
                table: "payments");

            migrationBuilder.DropIndex(
                name: "ix_payments_status_created_at",
                table: "payments");

            migrationBuilder.DropIndex(
                name: "ix_orders_status_expires_at",
                table: "orders");

            migrationBuilder.DropIndex(
                name: "ix_ledger_journals_payment_id",
                table: "ledger_journals");

            migrationBuilder.CreateIndex(
                name: "ix_payments_duplicates",
                table: "payments",
                column: "status",
                filter: "duplicate");

            migrationBuilder.CreateIndex(
                name: "ix_payments_pending_created_at",
                table: "payments",
                column: "created_at",
                filter: "status = 'Pending'");

            migrationBuilder.CreateIndex(
                name: "ix_orders_pending_expires_at",
                table: "orders",
                column: "expires_at",
                filter: "status = 'Pending'");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_payments_duplicates",
                table: "payments");

            migrationBuilder.DropIndex(
                name: "ix_payments_pending_created_at",
                table: "payments");

            migrationBuilder.DropIndex(
                name: "ix_orders_pending_expires_at",
                table: "orders");

            migrationBuilder.CreateIndex(
                name: "ix_payments_duplicate_status",
                table: "payments",
                columns: new[] { "duplicate", "status" });

            migrationBuilder.CreateIndex(
                name: "ix_payments_status_created_at",
                table: "payments",
                columns: new[] { "status", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_orders_status_expires_at",
                table: "orders",
                columns: new[] { "status", "expires_at" });

            migrationBuilder.CreateIndex(
                name: "ix_ledger_journals_payment_id",
                table: "ledger_journals",
                column: "payment_id");
        }
    }
}
